import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import (
    ApiCredential,
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    Stage,
    VccAccount,
)
from payments.services import (
    audit_record,
    credential_save,
    promotion_apply,
    promotion_approve,
    promotion_request,
)

pytestmark = pytest.mark.django_db

CANARY = "canary-audit-5f1c-never-exported"
FERNET_LOOKALIKE = "gAAAAABnotarealtokenbutlookslikeone1234567890"
AUDIT = reverse("payments:audit")


@pytest.fixture
def auditor(people):
    client = Client()
    client.force_login(people["auditor"])
    return client


@pytest.fixture
def applied(people):
    flow = PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING), number=697, name="3DS"
    )
    promotion = promotion_request(
        source_flow=flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure goes live",
        actor=people["registry"],
        origin="192.0.2.1",
    )
    promotion_approve(promotion=promotion, actor=people["approver"])
    return promotion_apply(promotion=promotion, actor=people["approver"])


def listed_actions(client, **params) -> list[str]:
    response = client.get(AUDIT, params)
    assert response.status_code == 200
    html = response.content.decode()
    return [part.split("</code>")[0] for part in html.split("<td><code>")[1:]]


def export(client, file_format="csv", **params):
    return client.get(reverse("payments:audit_export", args=[file_format]), params)


def csv_records(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def json_document(response) -> dict:
    return json.loads(b"".join(response.streaming_content))


# --- Who may look -----------------------------------------------------------------------------


def test_the_timeline_needs_a_login(client):
    response = client.get(AUDIT)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("username", ["registry", "approver", "agent"])
def test_others_are_refused_and_the_attempt_is_recorded(people, username):
    client = Client()
    client.force_login(people[username])
    assert client.get(AUDIT).status_code == 403
    event = AuditEvent.objects.get(action="audit.viewed")
    assert (event.actor_name, event.outcome) == (username, "denied")


def test_the_timeline_is_read_only(auditor):
    assert auditor.post(AUDIT).status_code == 405


def test_viewing_the_timeline_is_an_audit_event_with_its_filters(auditor):
    auditor.get(AUDIT, {"outcome": "denied", "person": "registry"})
    event = AuditEvent.objects.filter(action="audit.viewed").get()
    assert event.actor_name == "auditor" and event.outcome == "success"
    assert event.after["filters"] == {"outcome": "denied", "person": "registry"}


# --- What it shows -----------------------------------------------------------------------------


def test_the_timeline_shows_every_kind_of_event(auditor, people, applied):
    credential = ApiCredential.objects.get(client_id="production-client-b")
    credential_save(credential=credential, new_secret=CANARY, actor=people["registry"])
    audit_record(action="auth.login_failed", outcome="failure", object_type="user", reason="bad")
    audit_record(action="session.launched_production", actor=people["launcher"])
    actions = set(listed_actions(auditor))
    assert {
        "promotion.requested",
        "promotion.approved",
        "promotion.applied",
        "paymentflow.created",
        "accountconfiguration.created",
        "credential.secret_rotated",
        "auth.login_failed",
        "session.launched_production",
        "audit.viewed",
    } <= actions


def test_the_timeline_never_shows_a_secret(auditor, people):
    credential = ApiCredential.objects.get(client_id="production-client-b")
    credential_save(credential=credential, new_secret=CANARY, actor=people["registry"])
    audit_record(action="test.leak", after={"client_secret": CANARY, "note": FERNET_LOOKALIKE})
    html = auditor.get(AUDIT).content.decode()
    assert CANARY not in html and FERNET_LOOKALIKE not in html
    assert credential.secret_fingerprint in html


def test_a_promotion_links_to_its_story(auditor, applied):
    html = auditor.get(AUDIT).content.decode()
    assert reverse("payments:audit_promotion", args=[applied.pk]) in html


def test_the_story_shows_request_approval_apply_and_sessions(auditor, applied):
    response = auditor.get(reverse("payments:audit_promotion", args=[applied.pk]))
    html = response.content.decode()
    order = [
        html.index(a) for a in ("promotion.requested", "promotion.approved", "promotion.applied")
    ]
    assert order == sorted(order)
    assert "Sessions launched on it since" in html
    assert "from 192.0.2.1" in html
    event = AuditEvent.objects.filter(action="audit.viewed").get()
    assert event.after == {"promotion": applied.pk}


# --- Filters -----------------------------------------------------------------------------------


def test_filter_by_action_exactly_or_by_prefix(auditor, applied):
    assert set(listed_actions(auditor, action="promotion.approved")) == {"promotion.approved"}
    assert set(listed_actions(auditor, action="promotion.*")) == {
        "promotion.requested",
        "promotion.approved",
        "promotion.applied",
    }


def test_filter_by_person(auditor, applied):
    actions = listed_actions(auditor, person="approver")
    assert set(actions) == {
        "promotion.approved",
        "promotion.applied",
        "paymentflow.created",
        "accountconfiguration.created",
    }


def test_filter_by_system_shows_events_without_a_user(auditor, applied):
    assert "paymentflow.created" in listed_actions(auditor, person="system")  # the seed
    assert "promotion.requested" not in listed_actions(auditor, person="system")


def test_filter_by_outcome(auditor, people, applied):
    audit_record(action="promotion.approved", actor=people["registry"], outcome="denied")
    assert listed_actions(auditor, outcome="denied") == ["promotion.approved"]


def test_filter_by_account_follows_its_links_credentials_and_promotions(auditor, applied):
    production = VccAccount.objects.get(name="Production")
    actions = listed_actions(auditor, account=production.pk, action="promotion.*")
    assert len(actions) == 3
    sandbox = VccAccount.objects.get(name="Sandbox")
    assert not listed_actions(auditor, account=sandbox.pk, action="promotion.*")
    assert "apicredential.created" in listed_actions(auditor, account=sandbox.pk)


def test_filter_by_flow_finds_promotions_from_and_to_it(auditor, applied):
    source = listed_actions(auditor, flow=applied.source_flow_id, action="promotion.*")
    produced = listed_actions(auditor, flow=applied.production_flow_id, action="promotion.*")
    assert len(source) == len(produced) == 3
    assert "paymentflow.created" in listed_actions(auditor, flow=applied.production_flow_id)


def test_filter_by_date_range_in_utc(auditor, applied):
    today = timezone.now().date()
    assert listed_actions(auditor, date_from=today.isoformat(), action="promotion.*")
    yesterday = (today - timedelta(days=1)).isoformat()
    assert not listed_actions(auditor, date_to=yesterday, action="promotion.*")


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2025-02-01", "date_to": "2025-01-01"},
        {"date_from": "not-a-date"},
        {"account": "999999"},
        {"outcome": "maybe"},
    ],
)
def test_bad_filters_are_explained_not_crashed(auditor, params):
    response = auditor.get(AUDIT, params)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()


# --- Exports --------------------------------------------------------------------------------------


def test_the_csv_export_holds_the_filtered_events(auditor, applied):
    response = export(auditor, action="promotion.*")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment; filename=" in response["Content-Disposition"]
    records = csv_records(response)
    assert [r["action"] for r in records] == [
        "promotion.applied",
        "promotion.approved",
        "promotion.requested",
    ]
    assert records[2]["actor"] == "registry" and records[2]["origin"] == "192.0.2.1"
    assert json.loads(records[0]["after"])["state"] == "applied"
    assert records[0]["created_at_utc"].endswith("+00:00")


def test_the_json_export_holds_the_filtered_events_and_its_filters(auditor, applied):
    document = json_document(export(auditor, "json", person="approver", action="promotion.*"))
    assert document["filters"] == {"person": "approver", "action": "promotion.*"}
    assert document["count"] == 2 == len(document["events"])
    assert {e["action"] for e in document["events"]} == {"promotion.approved", "promotion.applied"}
    assert all(len(e["row_hash"]) == 64 for e in document["events"])


def test_an_export_is_an_audit_event(auditor, applied):
    json_document(export(auditor, "json", action="promotion.*"))
    event = AuditEvent.objects.get(action="audit.exported")
    assert event.after == {"format": "json", "filters": {"action": "promotion.*"}, "rows": 3}


@pytest.mark.parametrize("file_format", ["csv", "json"])
def test_exports_hold_fingerprints_never_secrets(auditor, people, file_format):
    credential = ApiCredential.objects.get(client_id="production-client-b")
    credential_save(credential=credential, new_secret=CANARY, actor=people["registry"])
    audit_record(
        action="test.leak",
        reason=f"token {FERNET_LOOKALIKE}",
        after={"client_secret": CANARY, "agentAccessToken": CANARY, "secret_fingerprint": "fp"},
    )
    body = b"".join(export(auditor, file_format).streaming_content).decode()
    assert CANARY not in body and FERNET_LOOKALIKE not in body
    assert credential.secret_fingerprint in body and "[redacted]" in body


def test_csv_cells_never_start_a_spreadsheet_formula(auditor, people):
    audit_record(action="test.formula", actor=people["registry"], reason='=HYPERLINK("x")')
    records = csv_records(export(auditor, action="test.formula"))
    assert records[0]["reason"] == '\'=HYPERLINK("x")'


def test_exports_are_refused_to_others_and_recorded(people):
    client = Client()
    client.force_login(people["registry"])
    assert export(client).status_code == 403
    event = AuditEvent.objects.get(action="audit.exported")
    assert event.outcome == "denied"


def test_an_export_with_bad_filters_is_a_clear_400(auditor):
    response = export(auditor, date_from="yesterday")
    assert response.status_code == 400
    assert "Fix them on the audit page" in response.content.decode()


def test_an_unknown_export_format_is_not_found(auditor):
    assert export(auditor, "xlsx").status_code == 404


def test_reading_the_trail_in_the_admin_is_recorded_too(auditor):
    changelist = reverse("admin:payments_auditevent_changelist")
    assert auditor.get(changelist, {"outcome": "denied"}).status_code == 200
    event = AuditEvent.objects.get(action="audit.viewed")
    assert (event.actor_name, event.object_repr) == ("auditor", "audit trail (admin list)")
    assert event.after == {"filters": {"outcome": "denied"}}
    first = AuditEvent.objects.order_by("id").first()
    auditor.get(reverse("admin:payments_auditevent_change", args=[first.pk]))
    assert AuditEvent.objects.filter(object_repr=f"audit event #{first.pk} (admin)").exists()
