"""The launch service against the VCC emulator over real HTTP on loopback."""

import json
import logging
import socket

import pytest
import requests
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from payments.models import (
    AllowedEnvironments,
    ApiCredential,
    AuditEvent,
    AuditOutcome,
    LaunchOutcome,
    PaymentFlow,
    PaymentSession,
    SessionKind,
    VccAccount,
)
from payments.services import (
    session_apply_status,
    session_launch,
    session_refresh,
)
from payments.services.launches import STATUS_SOURCE_NOT_FOUND, session_is_settled
from payments.vcc.client import SessionStatus, VccClient
from payments.vcc.emulator import EmulatorServer, StaticWorld, secret_digest
from payments.vcc.errors import (
    VccAuthenticationError,
    VccConfigurationNotProvisioned,
    VccOutcomeUnknown,
    VccProtocolError,
    VccProviderError,
    VccRateLimited,
    VccUnavailable,
)
from tests.conftest import point_accounts_at, provision_from_registry
from tests.factories import ApiCredentialFactory, UserFactory
from tests.launch_support import demo_link, status_body

pytestmark = pytest.mark.django_db

PAYMENT = {"Amount": "12.40", "Currency": "GBP", "MerchantReferenceCode": "REF-1"}


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


def user(username: str) -> User:
    return User.objects.get(username=username)


def launch(username="agent", account="Sandbox", configuration_id=1, **kwargs):
    values = {
        "link": demo_link(account, configuration_id),
        "launched_by": user(username),
        "kind": SessionKind.AGENT_ASSIST,
        "payment_data": dict(PAYMENT),
    }
    values.update(kwargs)
    return session_launch(**values)


def complete(server: EmulatorServer, session_guid: str, decision: str = "ACCEPT") -> None:
    response = requests.post(
        f"{server.url}/_emulator/sessions/{session_guid}/complete",
        json={"decision": decision},
        timeout=5,
    )
    response.raise_for_status()


def stored_values(session: PaymentSession) -> str:
    return json.dumps(PaymentSession.objects.filter(pk=session.pk).values().get(), default=str)


# --- Launching -------------------------------------------------------------------------


def test_agent_launches_an_agent_assist_session_on_staging(emulator):
    result = launch()
    assert result.ok
    assert result.session.outcome == LaunchOutcome.CREATED
    assert result.session.session_guid
    assert result.agent_session.iframe_url.startswith(f"{emulator.url}/pci/agent/")
    assert emulator.stats.session_creates == 1


def test_launch_records_what_ran_where(emulator):
    session = launch().session
    session.refresh_from_db()
    assert (session.account_name, session.credential_label, session.configuration_id) == (
        "Sandbox",
        "A",
        1,
    )
    assert (session.flow_number, session.flow_name, session.stage) == (
        695,
        "Card payment",
        "staging",
    )
    assert session.environment_name == "PCI Pal staging"
    assert (session.amount, session.currency, session.merchant_reference) == (
        "12.40",
        "GBP",
        "REF-1",
    )
    assert session.launched_by == user("agent")
    assert session.latency_ms is not None


def test_agent_id_defaults_to_the_launching_agent(emulator):
    assert launch().session.agent_id == "agent1234"


def test_agent_id_given_wins_over_the_profile(emulator):
    assert launch(agent_id="agent-other").session.agent_id == "agent-other"


def test_agent_tokens_are_never_stored(emulator):
    result = launch()
    tokens = [result.agent_session.agent_access_token, result.agent_session.agent_refresh_token]
    stored = stored_values(result.session)
    assert all(token and token not in stored for token in tokens)
    assert all(token not in repr(result) for token in tokens)


def test_agent_tokens_are_never_logged(emulator, caplog):
    with caplog.at_level(logging.DEBUG):
        result = launch()
    assert result.agent_session.agent_access_token not in caplog.text
    assert result.agent_session.agent_refresh_token not in caplog.text


# Transactional: a test wrapped in a transaction would always see one open.
@pytest.mark.django_db(transaction=True)
def test_no_database_transaction_is_open_during_the_vcc_call(emulator, monkeypatch):
    seen = []
    create = VccClient.create_agent_assist_session

    def spy(self, **kwargs):
        seen.append(connection.in_atomic_block)
        return create(self, **kwargs)

    monkeypatch.setattr(VccClient, "create_agent_assist_session", spy)
    assert launch().ok
    assert seen == [False]


def test_first_allowed_credential_is_used_when_none_is_given(emulator):
    session = launch(account="Contact Centre").session
    assert session.credential_label == "A"


def test_digital_session_sends_the_customer_phone(emulator):
    result = launch(
        kind=SessionKind.DIGITAL,
        payment_data={**PAYMENT, "CustomerPhoneNumber": "+447700900123"},
    )
    assert result.ok
    assert result.agent_session is None
    assert result.session.kind == SessionKind.DIGITAL
    assert result.session.provider_session_guid
    assert result.digital_session.session_guid == result.session.session_guid


def test_staging_launch_writes_no_audit_event(emulator):
    before = AuditEvent.objects.count()
    launch()
    assert AuditEvent.objects.count() == before


def test_production_launcher_launches_production_with_the_typed_name(emulator):
    result = launch("launcher", "Production", 1, confirm_account_name="Production")
    assert result.ok
    assert result.session.stage == "production"
    assert result.session.credential_label == "B"
    event = AuditEvent.objects.get(action="session.launched_production")
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.actor == user("launcher")
    assert event.after["sessionGuid"] == result.session.session_guid


# --- Refusals before anything is sent ------------------------------------------------------


def refused(emulator, exception, **kwargs):
    before = PaymentSession.objects.count()
    with pytest.raises(exception) as info:
        launch(**kwargs)
    assert emulator.stats.session_creates == 0
    assert emulator.stats.token_requests == 0
    assert PaymentSession.objects.count() == before
    return info.value


def test_production_without_the_typed_name_is_refused(emulator):
    error = refused(
        emulator,
        ValidationError,
        username="launcher",
        account="Production",
        confirm_account_name="",
    )
    assert "Production" in error.message_dict["confirm_account_name"][0]


def test_production_with_a_wrong_typed_name_is_refused(emulator):
    refused(
        emulator,
        ValidationError,
        username="launcher",
        account="Production",
        confirm_account_name="Sandbox",
    )


def test_agent_cannot_launch_production_and_the_denial_is_audited(emulator):
    error = refused(
        emulator,
        PermissionDenied,
        username="agent",
        account="Production",
        confirm_account_name="Production",
    )
    assert "production" in str(error)
    event = AuditEvent.objects.get(action="session.launch")
    assert (event.outcome, event.actor) == (AuditOutcome.DENIED, user("agent"))


def test_registry_admin_launches_staging(emulator):
    assert launch("registry").ok


def test_registry_admin_cannot_launch_production(emulator):
    refused(
        emulator,
        PermissionDenied,
        username="registry",
        account="Contact Centre",
        configuration_id=4,
        confirm_account_name="Contact Centre",
    )


def test_user_without_the_add_permission_is_refused(emulator):
    refused(emulator, PermissionDenied, username="auditor")
    assert AuditEvent.objects.filter(action="session.launch", outcome="denied").count() == 1


def test_sandbox_credential_never_starts_a_production_flow(emulator):
    sandbox_a = ApiCredential.objects.get(client_id="sandbox-client-a")
    error = refused(
        emulator,
        ValidationError,
        username="launcher",
        account="Production",
        confirm_account_name="Production",
        credential=sandbox_a,
    )
    assert "belong to Sandbox" in error.message_dict["credential"][0]


def test_staging_only_credential_on_a_combined_account_cannot_start_production(emulator):
    staging_only = ApiCredentialFactory(
        account=VccAccount.objects.get(name="Contact Centre"),
        label="S",
        allowed_environments=AllowedEnvironments.STAGING,
    )
    error = refused(
        emulator,
        ValidationError,
        username="launcher",
        account="Contact Centre",
        configuration_id=4,
        confirm_account_name="Contact Centre",
        credential=staging_only,
    )
    assert "not allowed to launch production flows" in error.message_dict["credential"][0]


def test_disabled_credential_is_refused(emulator):
    ApiCredential.objects.filter(client_id="sandbox-client-a").update(is_enabled=False)
    error = refused(emulator, ValidationError)
    assert "No enabled credentials on Sandbox" in error.message_dict["credential"][0]


def test_disabled_flow_is_refused(emulator):
    PaymentFlow.objects.filter(number=695).update(is_active=False)
    error = refused(emulator, ValidationError)
    assert "flow 695" in error.message_dict["link"][0]


def test_digital_session_without_a_phone_is_refused(emulator):
    error = refused(emulator, ValidationError, kind=SessionKind.DIGITAL)
    assert "CustomerPhoneNumber" in error.message_dict["payment_data"][0]


def test_invalid_payment_data_is_refused(emulator):
    error = refused(emulator, ValidationError, payment_data={"Amount": "-3", "Currency": "GBP"})
    assert "more than zero" in error.message_dict["payment_data"][0]


def test_launch_without_any_agent_id_is_refused(emulator):
    UserFactory(username="newcomer", groups=["Agents"])
    error = refused(emulator, ValidationError, username="newcomer")
    assert "agentId" in error.message_dict["agent_id"][0]


# --- VCC faults -----------------------------------------------------------------------------


def failed_launch(expected_error, outcome, **kwargs):
    result = launch(**kwargs)
    assert isinstance(result.error, expected_error)
    session = PaymentSession.objects.get(pk=result.session.pk)
    assert session.outcome == outcome
    assert session.error == result.error.message
    assert session.session_guid is None
    assert result.agent_session is None
    return result


def test_create_answered_with_5xx_is_outcome_unknown_and_never_retried(emulator):
    emulator.faults.inject("create", status=503, times=1)
    result = failed_launch(VccOutcomeUnknown, LaunchOutcome.UNKNOWN)
    assert emulator.stats.session_creates == 1
    assert "Do not launch again yet" in result.error.message


def test_create_answered_with_a_malformed_body_is_outcome_unknown(emulator):
    emulator.faults.inject("create", body="html", times=1)
    failed_launch(VccProtocolError, LaunchOutcome.UNKNOWN)
    assert emulator.stats.session_creates == 1


def test_create_timing_out_is_outcome_unknown(emulator, settings):
    settings.VCC_READ_TIMEOUT = 0.3
    emulator.faults.inject("create", hang=1.0, times=1)
    failed_launch(VccOutcomeUnknown, LaunchOutcome.UNKNOWN)
    assert emulator.stats.session_creates == 1


def test_vcc_unreachable_is_a_failed_launch_saying_to_try_again(emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    VccAccount.objects.update(auth_base_url=closed, payment_base_url=f"{closed}/globalpci")
    result = failed_launch(VccUnavailable, LaunchOutcome.FAILED)
    assert "try again" in result.error.message.lower()


def test_rate_limited_create_is_a_failed_launch(emulator):
    emulator.faults.inject("create", status=429, retry_after="2", times=1)
    failed_launch(VccRateLimited, LaunchOutcome.FAILED)


def test_invalid_client_names_the_credential_never_the_secret(emulator):
    emulator.faults.invalid_client = True
    result = failed_launch(VccAuthenticationError, LaunchOutcome.FAILED)
    secret = ApiCredential.objects.get(client_id="sandbox-client-a").client_secret
    assert "Sandbox" in result.error.message
    assert secret not in result.error.message
    assert secret not in stored_values(result.session)


def test_credentials_vcc_refuses_in_a_launch_are_marked_failing(emulator):
    emulator.faults.invalid_client = True
    result = failed_launch(VccAuthenticationError, LaunchOutcome.FAILED)
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    assert credential.last_verification_ok is False
    assert credential.last_verification_error == result.error.message
    event = AuditEvent.objects.get(action="credential.refused")
    assert (event.actor.username, event.outcome) == ("agent", AuditOutcome.FAILURE)
    assert event.object_id == str(credential.pk)


def test_other_launch_failures_leave_the_credentials_health_alone(emulator):
    emulator.faults.inject("create", status=429, retry_after="2", times=1)
    failed_launch(VccRateLimited, LaunchOutcome.FAILED)
    assert launch().ok
    assert ApiCredential.objects.get(client_id="sandbox-client-a").last_verification_ok is None
    assert not AuditEvent.objects.filter(action="credential.refused").exists()


def test_provider_error_is_a_failed_launch(emulator):
    emulator.faults.provider_error = "invalid_client_key"
    failed_launch(VccProviderError, LaunchOutcome.FAILED)


def test_configuration_not_provisioned_on_vcc_is_a_failed_launch(demo, settings):
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    world = StaticWorld(
        {
            "accounts": [
                {
                    "name": "Sandbox",
                    "credentials": [
                        {
                            "client_id": credential.client_id,
                            "client_secret_sha256": secret_digest(credential.client_secret),
                        }
                    ],
                    "configurations": [],
                }
            ]
        }
    )
    with EmulatorServer(world=world) as server:
        point_accounts_at(server)
        result = failed_launch(VccConfigurationNotProvisioned, LaunchOutcome.FAILED)
    assert "not provisioned" in result.error.message


def test_production_launch_that_fails_is_audited_as_a_failure(emulator):
    emulator.faults.inject("create", status=429, times=1)
    launch("launcher", "Production", 1, confirm_account_name="Production")
    event = AuditEvent.objects.get(action="session.launched_production")
    assert event.outcome == AuditOutcome.FAILURE


# --- Following the status ----------------------------------------------------------------


def test_refresh_reads_the_outcome_when_no_webhook_came(emulator):
    session = launch().session
    complete(emulator, session.session_guid)
    session = session_refresh(session=session)
    assert (session.session_state, session.decision, session.reason_code) == (
        "Finished",
        "ACCEPT",
        "100",
    )
    assert session.status_source == "poll"
    assert session_is_settled(session)


def test_refresh_of_an_unfinished_session_keeps_it_open(emulator):
    session = session_refresh(session=launch().session)
    assert not session.is_finished
    assert not session_is_settled(session)


def test_refresh_after_the_purge_is_recorded_not_raised(emulator):
    session = launch().session
    emulator.faults.purge_after = 0
    complete(emulator, session.session_guid)
    session = session_refresh(session=session)
    assert session.status_source == STATUS_SOURCE_NOT_FOUND
    assert "purged" in session.error
    assert session_is_settled(session)


def test_refresh_of_a_session_never_created_asks_vcc_nothing(emulator):
    emulator.faults.inject("create", status=500, times=1)
    session = launch().session
    reads = emulator.stats.session_reads
    assert session_refresh(session=session) == session
    assert emulator.stats.session_reads == reads


def test_apply_status_for_an_unknown_session_returns_none(emulator):
    status = SessionStatus.from_payload(status_body("11111111-1111-1111-1111-111111111111"))
    assert session_apply_status(status=status, source="webhook") is None


def test_declined_payment_is_stored_as_declined(emulator):
    session = launch().session
    complete(emulator, session.session_guid, "DECLINE")
    session = session_refresh(session=session)
    assert (session.decision, session.reason_code) == ("DECLINE", "481")
