"""Issue 13: production changes only by applying an approved promotion, for anyone; break-glass."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.checks import run_checks
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from payments.models import (
    AccountConfiguration,
    AllowedEnvironments,
    ApiCredential,
    AuditEvent,
    AuditOutcome,
    Notification,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    Stage,
    VccAccount,
)
from payments.selectors.audit import audit_events_filtered
from payments.selectors.registry_export import registry_export
from payments.services import credential_save, promotion_request, registry_delete, registry_save
from payments.services.production import ProductionWriteRefused, production_write_refusal
from payments.services.registry_io import RegistryFileError, registry_import
from tests.admin_forms import admin_post_data

pytestmark = pytest.mark.django_db

REASON = "VCC outage INC-4711: production flow renamed at the provider"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def flow(number: int) -> PaymentFlow:
    return PaymentFlow.objects.get(number=number)


def account(name: str) -> VccAccount:
    return VccAccount.objects.get(name=name)


def environment(stage: str) -> PciEnvironment:
    return PciEnvironment.objects.get(stage=stage)


def denied(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome=AuditOutcome.DENIED))


def change_url(obj) -> str:
    return reverse(f"admin:payments_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture(params=["registry", "admin"])
def anyone(request, people):
    """A registry admin and the demo superuser: no bypass for either."""
    return people[request.param]


# --- the rule: what counts as production ------------------------------------------------


def test_production_write_refusal_names_production_rows_and_leaves_staging_alone(demo):
    assert production_write_refusal(flow(695), {"environment_id": flow(695).environment_id}) is None
    assert "production flow" in production_write_refusal(
        flow(422), {"environment_id": flow(422).environment_id}
    )
    new_link = AccountConfiguration(account=account("Production"), configuration_id=9)
    new_link.flow = flow(422)
    assert "link to a production flow" in production_write_refusal(new_link, {})


# --- hostile finding: a registry admin puts a flow into production alone ------------------


def test_admin_add_production_flow_is_refused_for_anyone(anyone):
    client = client_for(anyone)
    url = reverse("admin:payments_paymentflow_add")
    data = admin_post_data(client.get(url))
    data |= {
        "environment": environment(Stage.PRODUCTION).pk,
        "number": "424",
        "name": "Card payment with 3-D Secure",
        "promoted_from": flow(699).pk,
        "is_active": "on",
        "change_reason": "alone",
    }
    response = client.post(url, data, follow=True)
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert "approved promotion" in response.content.decode()
    [event] = denied("paymentflow.created")
    assert event.actor == anyone
    assert "/promotions/new/" in event.reason


def test_admin_add_production_link_is_refused_for_anyone(anyone):
    client = client_for(anyone)
    url = reverse("admin:payments_accountconfiguration_add")
    data = admin_post_data(client.get(url))
    data |= {
        "account": account("Production").pk,
        "configuration_id": "9",
        "flow": flow(422).pk,
        "is_active": "on",
    }
    client.post(url, data)
    assert not AccountConfiguration.objects.filter(configuration_id=9).exists()
    assert len(denied("accountconfiguration.created")) == 1


def test_admin_inline_production_link_on_the_account_page_is_refused(people):
    client = client_for(people["admin"])
    contact_centre = account("Contact Centre")
    url = change_url(contact_centre)
    data = admin_post_data(client.get(url))
    total = int(data["configurations-TOTAL_FORMS"])
    data |= {
        "configurations-TOTAL_FORMS": str(total + 1),
        f"configurations-{total}-configuration_id": "6",
        f"configurations-{total}-flow": flow(423).pk,
        f"configurations-{total}-is_active": "on",
        f"configurations-{total}-account": contact_centre.pk,
    }
    client.post(url, data)
    assert not contact_centre.configurations.filter(configuration_id=6).exists()
    assert len(denied("accountconfiguration.created")) == 1


def test_admin_change_of_a_production_flow_is_refused_for_anyone(anyone):
    production_flow = flow(422)
    client = client_for(anyone)
    data = admin_post_data(client.get(change_url(production_flow)))
    data["name"] = "Card payment (renamed alone)"
    client.post(change_url(production_flow), data)
    assert flow(422).name == "Card payment"
    assert len(denied("paymentflow.changed")) == 1


def test_admin_deactivating_a_production_link_is_refused(people):
    link = account("Production").configurations.get(configuration_id=1)
    client = client_for(people["registry"])
    data = admin_post_data(client.get(change_url(link)))
    data.pop("is_active")
    client.post(change_url(link), data)
    link.refresh_from_db()
    assert link.is_active


def test_admin_delete_of_a_production_link_is_refused_even_for_the_superuser(people):
    link = account("Production").configurations.get(configuration_id=1)
    url = reverse("admin:payments_accountconfiguration_delete", args=[link.pk])
    response = client_for(people["admin"]).post(url, {"post": "yes"})
    assert response.status_code == 302
    assert AccountConfiguration.objects.filter(pk=link.pk).exists()
    assert len(denied("accountconfiguration.deleted")) == 1


def test_admin_delete_selected_action_on_production_links_is_refused(people):
    links = AccountConfiguration.objects.filter(flow__environment__stage=Stage.PRODUCTION)
    pks = [str(pk) for pk in links.values_list("pk", flat=True)]
    response = client_for(people["admin"]).post(
        reverse("admin:payments_accountconfiguration_changelist"),
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )
    assert response.status_code == 302
    assert links.count() == len(pks)
    assert len(denied("accountconfiguration.deleted")) == 1


def test_staging_side_edits_stay_direct_for_a_registry_admin(people):
    staging_flow = flow(695)
    client = client_for(people["registry"])
    data = admin_post_data(client.get(change_url(staging_flow)))
    data["name"] = "Card payment v2"
    assert client.post(change_url(staging_flow), data).status_code == 302
    assert flow(695).name == "Card payment v2"
    assert AuditEvent.objects.filter(action="paymentflow.changed").exists()


def test_service_refuses_a_production_flow_without_a_promotion(people):
    new = PaymentFlow(
        environment=environment(Stage.PRODUCTION),
        number=424,
        name="Card payment with 3-D Secure",
        promoted_from=flow(699),
    )
    with pytest.raises(PermissionDenied, match="approved promotion"):
        registry_save(instance=new, actor=people["admin"])
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert len(denied("paymentflow.created")) == 1


def test_service_refuses_a_promotion_that_is_not_approved(people):
    promotion = promotion_request(
        source_flow=flow(699),
        target_account=account("Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure",
        actor=people["registry"],
    )
    new = PaymentFlow(environment=environment(Stage.PRODUCTION), number=424, name="x")
    with pytest.raises(ProductionWriteRefused):
        registry_save(instance=new, actor=people["registry"], via_promotion=promotion)
    assert not PaymentFlow.objects.filter(number=424).exists()


def test_applying_an_approved_promotion_still_writes_production(people):
    from payments.services import promotion_apply, promotion_approve

    promotion = promotion_request(
        source_flow=flow(699),
        target_account=account("Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure",
        actor=people["registry"],
    )
    promotion_approve(promotion=promotion, actor=people["approver"])
    promotion = promotion_apply(
        promotion=Promotion.objects.get(pk=promotion.pk), actor=people["approver"]
    )
    assert promotion.production_flow.number == 424
    assert promotion.production_link.flow.stage == Stage.PRODUCTION


# --- hostile finding: production turned into staging -----------------------------------


def test_admin_stage_change_of_a_production_environment_is_refused(people):
    production = environment(Stage.PRODUCTION)
    client = client_for(people["admin"])
    data = admin_post_data(client.get(change_url(production)))
    data["stage"] = Stage.STAGING
    response = client.post(change_url(production), data)
    assert response.status_code == 200  # the form shows why
    assert "would reclassify the links" in response.content.decode()
    assert environment(Stage.PRODUCTION) == production


def test_stage_change_names_the_links_even_with_break_glass(people):
    production = environment(Stage.PRODUCTION)
    production.stage = Stage.STAGING
    with pytest.raises(ValidationError) as error:
        registry_save(instance=production, actor=people["admin"], reason=REASON, break_glass=True)
    assert "Production · id 1 → Flow 422" in str(error.value)


def test_moving_a_production_flow_to_staging_is_refused_naming_its_links(people):
    production_flow = flow(422)
    production_flow.environment = environment(Stage.STAGING)
    with pytest.raises(ValidationError, match="Contact Centre · id 4 → Flow 422"):
        registry_save(instance=production_flow, actor=people["admin"])
    assert flow(422).stage == Stage.PRODUCTION


def test_stage_change_of_an_environment_without_links_is_still_a_production_change(people):
    empty = registry_save(
        instance=PciEnvironment(name="PCI Pal DR", stage=Stage.PRODUCTION), actor=people["registry"]
    )
    empty.stage = Stage.STAGING
    with pytest.raises(ProductionWriteRefused, match="stage of PCI environment PCI Pal DR"):
        registry_save(instance=empty, actor=people["registry"])


def test_account_kind_change_is_refused_for_anyone(people):
    sandbox = account("Sandbox")
    sandbox.kind = "combined"
    with pytest.raises(ProductionWriteRefused, match="from sandbox to combined"):
        registry_save(instance=sandbox, actor=people["admin"])
    assert account("Sandbox").kind == "sandbox"


def test_pointing_a_production_account_elsewhere_is_refused(people):
    production = account("Production")
    production.auth_base_url = "https://attacker.example"
    with pytest.raises(ProductionWriteRefused, match="sends launches"):
        registry_save(instance=production, actor=people["registry"])


# --- break-glass -----------------------------------------------------------------------


def test_no_demo_role_holds_break_glass(people):
    holders = Group.objects.filter(permissions__codename="break_glass")
    assert not holders.exists()
    assert not any(
        person.has_perm("payments.break_glass")
        for name, person in people.items()
        if name != "admin"
    )
    assert people["admin"].has_perm("payments.break_glass")


def test_break_glass_box_is_shown_only_to_holders(people):
    url = change_url(flow(422))
    assert 'name="break_glass"' in client_for(people["admin"]).get(url).content.decode()
    assert 'name="break_glass"' not in client_for(people["registry"]).get(url).content.decode()


def test_break_glass_in_the_admin_saves_with_its_own_event_and_tells_registry_admins(people):
    production_flow = flow(422)
    client = client_for(people["admin"])
    data = admin_post_data(client.get(change_url(production_flow)))
    data |= {"name": "Card payment (emergency)", "break_glass": "on", "change_reason": REASON}
    assert client.post(change_url(production_flow), data).status_code == 302
    assert flow(422).name == "Card payment (emergency)"
    event = AuditEvent.objects.get(action="paymentflow.break_glass")
    assert event.reason == REASON and event.after == {"name": "Card payment (emergency)"}
    assert not AuditEvent.objects.filter(action="paymentflow.changed").exists()
    notification = Notification.objects.get(event=event)
    recipients = {delivery.recipient.username for delivery in notification.deliveries.all()}
    assert recipients == {"admin", "registry"}
    assert "Break-glass change" in notification.subject


def test_break_glass_without_a_reason_is_refused_by_the_form(people):
    production_flow = flow(422)
    client = client_for(people["admin"])
    data = admin_post_data(client.get(change_url(production_flow)))
    data |= {"name": "Card payment (emergency)", "break_glass": "on", "change_reason": ""}
    response = client.post(change_url(production_flow), data)
    assert response.status_code == 200
    assert "needs a reason" in response.content.decode()
    assert flow(422).name == "Card payment"


def test_break_glass_posted_by_a_non_holder_is_ignored_and_refused(people):
    production_flow = flow(422)
    client = client_for(people["registry"])
    data = admin_post_data(client.get(change_url(production_flow)))
    data |= {"name": "Card payment (sneaky)", "break_glass": "on", "change_reason": REASON}
    client.post(change_url(production_flow), data)
    assert flow(422).name == "Card payment"
    assert len(denied("paymentflow.changed")) == 1


def test_break_glass_service_needs_the_permission_and_a_reason(people):
    production_flow = flow(422)
    production_flow.name = "Renamed"
    with pytest.raises(ProductionWriteRefused):
        registry_save(
            instance=production_flow, actor=people["registry"], break_glass=True, reason=REASON
        )
    with pytest.raises(ValidationError, match="needs a reason"):
        registry_save(instance=production_flow, actor=people["admin"], break_glass=True)
    registry_save(instance=production_flow, actor=people["admin"], break_glass=True, reason=REASON)
    assert flow(422).name == "Renamed"


def test_break_glass_delete_is_audited_as_break_glass(people):
    link = account("Production").configurations.get(configuration_id=2)
    registry_delete(instance=link, actor=people["admin"], reason=REASON, break_glass=True)
    event = AuditEvent.objects.get(action="accountconfiguration.break_glass")
    assert event.before["configuration_id"] == 2 and event.after == {}


def test_audit_review_shows_and_filters_break_glass(people):
    production_flow = flow(422)
    production_flow.name = "Renamed"
    registry_save(instance=production_flow, actor=people["admin"], break_glass=True, reason=REASON)
    assert [e.action for e in audit_events_filtered(break_glass=True)] == [
        "paymentflow.break_glass"
    ]
    response = client_for(people["auditor"]).get(reverse("payments:audit"), {"break_glass": "on"})
    html = response.content.decode()
    assert 'class="badge break-glass"' in html
    assert "paymentflow.changed" not in html


# --- credentials fit their account (item 8) ---------------------------------------------


def test_production_only_on_a_sandbox_account_is_refused(people):
    credential = ApiCredential(
        account=account("Sandbox"),
        label="P",
        client_id="sandbox-client-p",
        allowed_environments=AllowedEnvironments.PRODUCTION,
    )
    with pytest.raises(
        ValidationError, match="sandbox account: its credentials may launch staging"
    ):
        credential_save(credential=credential, new_secret="a-secret-0001", actor=people["admin"])
    assert not ApiCredential.objects.filter(label="P").exists()


def test_admin_credential_form_refuses_production_on_a_sandbox_account(people):
    client = client_for(people["admin"])
    url = reverse("admin:payments_apicredential_add")
    data = admin_post_data(client.get(url))
    data |= {
        "account": account("Sandbox").pk,
        "label": "P",
        "client_id": "sandbox-client-p",
        "allowed_environments": "production",
        "is_enabled": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "may launch staging only" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sandbox", "staging"), ("Contact Centre", "staging"), ("Production", "production")],
)
def test_a_new_credential_defaults_to_what_its_account_allows(people, name, expected):
    credential = ApiCredential(account=account(name), label="N", client_id=f"{name}-n")
    credential.full_clean(exclude=["client_secret"])
    assert credential.allowed_environments == expected


def test_admin_add_credential_on_a_sandbox_account_defaults_to_staging(people):
    client = client_for(people["registry"])
    url = reverse("admin:payments_apicredential_add")
    data = admin_post_data(client.get(url))
    data |= {"account": account("Sandbox").pk, "label": "N", "client_id": "sandbox-client-n"}
    data |= {"allowed_environments": "", "is_enabled": "on", "client_secret": "new-secret-0001"}
    assert client.post(url, data).status_code == 302
    assert ApiCredential.objects.get(client_id="sandbox-client-n").allowed_environments == "staging"


def test_granting_a_credential_production_is_a_production_change(people):
    credential = ApiCredential.objects.get(client_id="contact-centre-client-a")
    credential.allowed_environments = AllowedEnvironments.STAGING
    credential_save(credential=credential, new_secret=None, actor=people["registry"])  # narrowing
    credential.allowed_environments = AllowedEnvironments.BOTH
    with pytest.raises(ProductionWriteRefused, match="launch production"):
        credential_save(credential=credential, new_secret=None, actor=people["admin"])


def test_disabling_a_production_credential_stays_direct(people):
    credential = ApiCredential.objects.get(client_id="production-client-b")
    credential.is_enabled = False
    credential_save(credential=credential, new_secret=None, actor=people["registry"])
    credential.is_enabled = True
    with pytest.raises(ProductionWriteRefused, match="Enabling"):
        credential_save(credential=credential, new_secret=None, actor=people["registry"])


def test_check_reports_credentials_that_contradict_their_account(demo):
    ApiCredential.objects.filter(client_id="sandbox-client-a").update(allowed_environments="both")
    messages = [m for m in run_checks(databases=["default"]) if m.id == "payments.W002"]
    assert len(messages) == 1
    assert "Sandbox · credentials A" in messages[0].msg
    assert "sandbox account (staging only)" in messages[0].msg


# --- import -----------------------------------------------------------------------------


def production_flow_424(document: dict) -> dict:
    document["flows"].append(
        {
            "environment": "PCI Pal production",
            "number": 424,
            "name": "Card payment with 3-D Secure",
            "promoted_from": {"environment": "PCI Pal staging", "number": 699},
        }
    )
    document["links"].append(
        {
            "account": "Production",
            "configuration_id": 3,
            "flow": {"environment": "PCI Pal production", "number": 424},
        }
    )
    return document


def test_import_of_production_changes_plans_them_and_writes_none(people):
    # Item 6: the file's production changes become one pending promotion (more in
    # tests/test_import_plans_promotion.py); a change no promotion can make refuses it all.
    document = production_flow_424(registry_export())
    result = registry_import(document=document, actor=people["registry"], environ={})
    assert [str(change) for change in result.promotions[0].changes] == [
        str(change) for change in result.production_changes
    ]
    assert "+ create flow 424 on 'PCI Pal production'" in str(result.production_changes[0])
    assert "+ create link 'Production' id 3" in str(result.production_changes[1])
    assert Promotion.objects.get().state == "requested"
    assert not PaymentFlow.objects.filter(number=424).exists()


def test_import_of_a_production_rename_is_refused_and_names_it(people):
    document = production_flow_424(registry_export())
    document["flows"][0]["name"] = "a production rename: no promotion makes it"
    with pytest.raises(RegistryFileError) as error:
        registry_import(document=document, actor=people["registry"], environ={})
    problems = "\n".join(error.value.problems)
    assert "~ update flow 422 on 'PCI Pal production'" in problems
    assert "no promotion can make" in problems
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert not Promotion.objects.exists()
    [event] = denied("registry.imported")
    assert "flow 422" in event.reason


def test_import_by_a_superuser_into_a_full_registry_plans_too(people):
    registry_import(
        document=production_flow_424(registry_export()), actor=people["admin"], environ={}
    )
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert Promotion.objects.get().requested_by == people["admin"]


def test_import_dry_run_lists_what_applies_and_what_needs_a_promotion(people, tmp_path):
    document = production_flow_424(registry_export())
    document["flows"].append({"environment": "PCI Pal staging", "number": 700, "name": "Topup"})
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    out = StringIO()
    call_command("import_registry", str(path), "--dry-run", "--actor", "registry", stdout=out)
    text = out.getvalue()
    direct, planned = text.split("Needs a promotion")
    assert "+ create flow 700 on 'PCI Pal staging'" in direct
    assert "+ create flow 424 on 'PCI Pal production'" in planned
    assert "+ create link 'Production' id 3" in planned
    assert "2 production change(s) need a promotion" in text


def test_import_a_production_environment_stage_change_is_refused(people):
    document = registry_export()
    document["environments"][0]["stage"] = "staging"
    with pytest.raises(RegistryFileError, match="would reclassify the links"):
        registry_import(document=document, actor=people["registry"], environ={})
    assert environment(Stage.PRODUCTION).name == "PCI Pal production"


@pytest.mark.parametrize("actor", ["agent", "approver", "nobody"])
def test_import_registry_refuses_an_actor_who_may_not_request_promotions(demo, tmp_path, actor):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry_export()))
    before = AuditEvent.objects.filter(action="registry.imported").count()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_registry", str(path), "--actor", actor, stdout=StringIO())
    events = AuditEvent.objects.filter(action="registry.imported")
    assert events.count() == before + (0 if actor == "nobody" else 1)
    assert not events.filter(outcome=AuditOutcome.SUCCESS).exists()


def test_import_registry_without_actor_is_refused(demo, tmp_path):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry_export()))
    with pytest.raises(CommandError, match="--actor is required"):
        call_command("import_registry", str(path), stdout=StringIO())


def test_import_registry_refuses_an_inactive_actor(people):
    registry = people["registry"]
    registry.is_active = False
    registry.save()
    with pytest.raises(PermissionDenied):
        registry_import(document=registry_export(), actor=registry, environ={})


def test_restore_into_an_empty_registry_is_for_a_superuser_only(people):
    from tests.test_registry_io import empty_the_registry

    document = registry_export()
    empty_the_registry()
    secrets = {
        entry["client_secret_env"]: "restored-secret-0001" for entry in document["credentials"]
    }
    with pytest.raises(RegistryFileError, match="production change"):
        registry_import(document=document, actor=people["registry"], environ=secrets)
    assert not PaymentFlow.objects.exists()
    result = registry_import(document=document, actor=people["admin"], environ=secrets)
    assert result.restored and result.production_changes == []
    assert AuditEvent.objects.filter(action="registry.restored").count() == 1
    assert flow(422).promoted_from.number == 695


def test_registry_import_role_permission_is_add_promotion(people):
    # The rule the CLI applies: a person with the permission alone may import.
    clerk = User.objects.create_user("clerk")
    clerk.user_permissions.set(Permission.objects.filter(codename="add_promotion"))
    clerk = User.objects.get(pk=clerk.pk)
    result = registry_import(document=registry_export(), actor=clerk, environ={})
    assert result.changes == []
