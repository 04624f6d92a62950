import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from payments.models import (
    AccountConfiguration,
    AccountKind,
    AllowedEnvironments,
    Region,
    Stage,
    VccAccount,
)
from tests.factories import (
    AccountConfigurationFactory,
    ApiCredentialFactory,
    PaymentFlowFactory,
    PciEnvironmentFactory,
    VccAccountFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging_flow():
    return PaymentFlowFactory(environment=PciEnvironmentFactory(stage=Stage.STAGING), number=695)


@pytest.fixture
def production_flow(staging_flow):
    return PaymentFlowFactory(
        environment=PciEnvironmentFactory(stage=Stage.PRODUCTION),
        number=422,
        promoted_from=staging_flow,
    )


@pytest.mark.parametrize(
    ("region", "auth", "payment"),
    [
        ("emea", "https://emea.cc.vonage.com", "https://emea.api.newvoicemedia.com/globalpci"),
        ("nam", "https://nam.cc.vonage.com", "https://nam.api.newvoicemedia.com/globalpci"),
        ("apac", "https://apac.cc.vonage.com", "https://apac.api.newvoicemedia.com/globalpci"),
    ],
)
def test_account_base_urls_default_from_region(region, auth, payment):
    account = VccAccount(name="Regional", kind=AccountKind.SANDBOX, region=region)
    account.full_clean()
    assert (account.auth_base_url, account.payment_base_url) == (auth, payment)


def test_account_base_urls_stay_editable():
    account = VccAccount(
        name="Emulated",
        kind=AccountKind.SANDBOX,
        region=Region.NAM,
        auth_base_url="http://127.0.0.1:8100/",
    )
    account.full_clean()
    assert account.auth_base_url == "http://127.0.0.1:8100"
    assert account.payment_base_url == "https://nam.api.newvoicemedia.com/globalpci"


def test_sandbox_account_cannot_link_production_flow(production_flow):
    link = AccountConfiguration(
        account=VccAccountFactory(kind=AccountKind.SANDBOX),
        configuration_id=1,
        flow=production_flow,
    )
    with pytest.raises(ValidationError, match="only link to staging flows"):
        link.full_clean()


def test_production_account_cannot_link_staging_flow(staging_flow):
    link = AccountConfiguration(
        account=VccAccountFactory(kind=AccountKind.PRODUCTION),
        configuration_id=1,
        flow=staging_flow,
    )
    with pytest.raises(ValidationError, match="only link to production flows"):
        link.full_clean()


def test_combined_account_links_both_stages(staging_flow, production_flow):
    account = VccAccountFactory(kind=AccountKind.COMBINED)
    for configuration_id, flow in [(1, staging_flow), (4, production_flow)]:
        AccountConfiguration(
            account=account, configuration_id=configuration_id, flow=flow
        ).full_clean()


def test_account_kind_change_refused_while_links_clash(staging_flow):
    link = AccountConfigurationFactory(
        account=VccAccountFactory(kind=AccountKind.SANDBOX), flow=staging_flow
    )
    account = link.account
    account.kind = AccountKind.PRODUCTION
    with pytest.raises(ValidationError, match="move or remove"):
        account.full_clean()


def test_configuration_id_unique_per_account(staging_flow):
    account = VccAccountFactory(kind=AccountKind.SANDBOX)
    AccountConfigurationFactory(account=account, configuration_id=1, flow=staging_flow)
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountConfiguration.objects.create(account=account, configuration_id=1, flow=staging_flow)


def test_same_configuration_id_on_two_accounts_is_two_links(staging_flow, production_flow):
    """An id is unique per account only: id 1 passes validation twice and starts two flows."""
    sandbox_account = VccAccountFactory(name="Sandbox", kind=AccountKind.SANDBOX)
    production_account = VccAccountFactory(name="Production", kind=AccountKind.PRODUCTION)
    sandbox = AccountConfiguration(account=sandbox_account, configuration_id=1, flow=staging_flow)
    production = AccountConfiguration(
        account=production_account, configuration_id=1, flow=production_flow
    )
    for link in (sandbox, production):
        link.full_clean()  # validates the unique constraints too: they must not clash
        link.save()
    assert AccountConfiguration.objects.filter(configuration_id=1).count() == 2
    assert sandbox_account.configurations.get(configuration_id=1).flow == staging_flow
    assert production_account.configurations.get(configuration_id=1).flow == production_flow
    # How the admin and the audit trail name a link: account, id, flow and its stage.
    assert str(sandbox) == "Sandbox · id 1 → Flow 695 · staging"
    assert str(production) == "Production · id 1 → Flow 422 · production"


def test_flow_number_unique_per_environment(staging_flow):
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFlowFactory(environment=staging_flow.environment, number=695)


def test_flow_number_reused_on_other_environment(staging_flow):
    PaymentFlowFactory(environment=PciEnvironmentFactory(stage=Stage.PRODUCTION), number=695)


def test_staging_flow_cannot_be_promoted_from_anything(staging_flow):
    other = PaymentFlowFactory(environment=staging_flow.environment, number=700)
    other.promoted_from = staging_flow
    with pytest.raises(ValidationError, match="Only a production flow"):
        other.full_clean()


def test_production_flow_cannot_come_from_production_flow(production_flow):
    second = PaymentFlowFactory(environment=production_flow.environment, number=500)
    second.promoted_from = production_flow
    with pytest.raises(ValidationError, match="is not a staging flow"):
        second.full_clean()


def test_credential_refuses_link_of_other_account(staging_flow):
    link = AccountConfigurationFactory(flow=staging_flow)
    credential = ApiCredentialFactory()
    assert "not to" in credential.refusal_for(link)


def test_credential_refuses_disabled(staging_flow):
    link = AccountConfigurationFactory(flow=staging_flow)
    credential = ApiCredentialFactory(account=link.account, is_enabled=False)
    assert "disabled" in credential.refusal_for(link)


def test_credential_refuses_stage_it_is_not_allowed(production_flow):
    account = VccAccountFactory(kind=AccountKind.COMBINED)
    link = AccountConfigurationFactory(account=account, flow=production_flow)
    staging_only = ApiCredentialFactory(
        account=account, allowed_environments=AllowedEnvironments.STAGING
    )
    assert "not allowed to launch production" in staging_only.refusal_for(link)
    both = ApiCredentialFactory(account=account, allowed_environments=AllowedEnvironments.BOTH)
    assert both.refusal_for(link) is None
    assert list(link.launch_credentials()) == [both]


def test_credential_without_secret_cannot_launch(staging_flow):
    link = AccountConfigurationFactory(flow=staging_flow)
    credential = ApiCredentialFactory(account=link.account, secret="")
    assert "no secret" in credential.refusal_for(link)
    assert not link.launch_credentials().exists()


def test_launchable_by_hides_production_without_permission(
    django_user_model, staging_flow, production_flow
):
    account = VccAccountFactory(kind=AccountKind.COMBINED)
    staging = AccountConfigurationFactory(account=account, configuration_id=1, flow=staging_flow)
    AccountConfigurationFactory(account=account, configuration_id=4, flow=production_flow)
    agent = django_user_model.objects.create_user("agent")
    assert list(AccountConfiguration.objects.launchable_by(agent)) == [staging]


def test_invalid_kind_refused_by_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        VccAccount.objects.create(name="Odd", kind="staging", region=Region.EMEA)
