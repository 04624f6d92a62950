"""Promotions through every front door (page, admin, API, CLI): one gate, one audit row per
refusal."""

import json
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse

from payments.models import AuditEvent, Promotion, PromotionState, VccAccount
from payments.services import promotion_request
from tests.promotion_support import api, web

pytestmark = pytest.mark.django_db

REASON = "3-D Secure goes live"


def page(promotion: Promotion) -> str:
    return reverse("payments:promotion", args=[promotion.pk])


def step_url(promotion: Promotion, step: str) -> str:
    return reverse("payments:promotion_step", args=[promotion.pk, step])


def form(flow) -> dict:
    return {
        "source_flow": flow.pk,
        "target_account": VccAccount.objects.get(name="Production").pk,
        "production_flow_number": 424,
        "configuration_id": 3,
        "target_environment": "",
        "reason": REASON,
        "idempotency_key": str(uuid.uuid4()),
    }


def api_body(flow) -> dict:
    return {
        "sourceFlow": flow.number,
        "targetAccount": "Production",
        "productionFlowNumber": 424,
        "configurationId": 3,
        "reason": REASON,
    }


@pytest.fixture
def requested(people, new_flow):
    return promotion_request(
        source_flow=new_flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason=REASON,
        actor=people["registry"],
    )


@pytest.fixture
def requester_who_approves(people):
    """The registry admin, also made an approver: the four-eyes rule, not a group, stops them."""
    registry = people["registry"]
    registry.user_permissions.add(Permission.objects.get(codename="approve_promotion"))
    return User.objects.get(pk=registry.pk)  # a fresh copy: permissions are cached per object


def the_new_audit_row(since: int) -> tuple:
    """The one promotion event written since `since` (signing in writes its own)."""
    rows = AuditEvent.objects.filter(pk__gt=since, action__startswith="promotion.")
    rows = list(rows.order_by("pk"))
    assert len(rows) == 1, [(row.action, row.outcome) for row in rows]
    row = rows[0]
    return (row.action, row.outcome, row.actor_name, row.object_type, row.reason)


# --- The same refusal through every front door writes the same audit row ----------------------


def cli(*args: str) -> str:
    """Run `manage.py promotion ARGS`; return what it printed (a refusal raises CommandError)."""
    out = StringIO()
    call_command("promotion", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def cli_refusal(*args: str) -> str:
    with pytest.raises(CommandError) as refused:
        cli(*args)
    assert refused.value.returncode == 2
    return str(refused.value)


def cli_request_args(user: User, flow) -> list[str]:
    return [
        "request", "--as", user.username,
        "--source-flow", str(flow.number),
        "--target-account", "Production",
        "--production-flow-number", "424",
        "--configuration-id", "3",
        "--reason", REASON,
    ]  # fmt: skip


def _request_through(door: str, user: User, flow) -> int:
    if door == "cli":
        assert "may not request promotions" in cli_refusal(*cli_request_args(user, flow))
        return 403
    if door == "page":
        return web(user).post(reverse("payments:promotion_new"), form(flow)).status_code
    if door == "admin":
        # The admin has no request form of its own: its "add" leads to the page's.
        client = web(user)
        add = client.get(reverse("admin:payments_promotion_add"))
        assert add.status_code == 302
        return client.post(add.url, form(flow)).status_code
    return api(user).post("/api/v1/promotions", api_body(flow), "application/json").status_code


class Refused:
    """A CLI refusal, shaped like the answers of the other doors for the assertions below."""

    status_code = 403

    def __init__(self, text: str):
        self.content = text.encode()


def _approve_through(door: str, user: User, promotion: Promotion) -> int:
    if door == "cli":
        version = json.loads(cli("show", str(promotion.pk), "--as", user.username, "--json"))
        args = ["approve", str(promotion.pk), "--as", user.username, "--seen"]
        return Refused(cli_refusal(*args, version["version"]))
    if door == "page":
        # The page offers the requester no Approve button: this is the POST it would send.
        seen = promotion.updated_at.isoformat()
        return web(user).post(step_url(promotion, "approve"), {"seen": seen})
    if door == "admin":
        changelist = reverse("admin:payments_promotion_changelist")
        data = {"action": "approve_selected", "_selected_action": [promotion.pk]}
        return web(user).post(changelist, data, follow=True)
    client = api(user)
    version = client.get(f"/api/v1/promotions/{promotion.pk}").json()["version"]
    return client.post(
        f"/api/v1/promotions/{promotion.pk}/approve", {"seen": version}, "application/json"
    )


@pytest.mark.parametrize("door", ["page", "admin", "api", "cli"])
def test_a_request_without_permission_is_refused_with_the_same_audit_row(people, new_flow, door):
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    status = _request_through(door, people["approver"], new_flow)
    assert status == 403
    assert not Promotion.objects.exists()
    assert the_new_audit_row(since) == (
        "promotion.requested",
        "denied",
        "approver",
        "paymentflow",
        "You may not request promotions: that needs the Registry admins group "
        "(permission payments.add_promotion).",
    )


@pytest.mark.parametrize("door", ["page", "admin", "api", "cli"])
def test_a_requester_approving_their_own_promotion_is_refused_with_the_same_audit_row(
    requested, requester_who_approves, door
):
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    response = _approve_through(door, requester_who_approves, requested)
    text = response.content.decode()
    assert "another approver must act" in text
    assert (response.status_code == 200) if door == "admin" else (response.status_code == 403)
    assert the_new_audit_row(since) == (
        "promotion.approved",
        "denied",
        "registry",
        "promotion",
        "You requested this promotion, so someone else must approve it (four eyes): another "
        "approver must act.",
    )
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


# --- The page: the service refuses, and the page offers only what can succeed -----------------


def test_a_superuser_editing_someone_elses_promotion_on_the_page_is_audited(people, requested):
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    response = web(people["admin"]).post(
        reverse("payments:promotion_edit", args=[requested.pk]),
        {"production_flow_number": 430, "configuration_id": 3, "reason": "mine now"},
    )
    assert response.status_code == 403
    assert "recorded in the audit trail" in response.content.decode()
    action, outcome, actor, _, reason = the_new_audit_row(since)
    assert (action, outcome, actor) == ("promotion.edited", "denied", "admin")
    assert reason.startswith("Only registry (who requested it) may edit this promotion")
    requested.refresh_from_db()
    assert requested.production_flow_number == 424


def test_a_requester_who_may_approve_is_offered_cancel_but_not_reject(
    requested, requester_who_approves
):
    assert requested.steps_for(requester_who_approves) == ["edit", "cancel"]
    html = web(requester_who_approves).get(page(requested)).content.decode()
    assert step_url(requested, "cancel") in html
    assert step_url(requested, "reject") not in html
    assert step_url(requested, "approve") not in html


def test_the_four_eyes_refusal_does_not_send_the_requester_to_ask_for_a_group(
    requested, requester_who_approves
):
    response = web(requester_who_approves).post(
        step_url(requested, "approve"), {"seen": requested.updated_at.isoformat()}
    )
    html = response.content.decode()
    assert "another approver must act" in html
    assert "ask a registry admin to add you to the right group" not in html


def test_a_missing_group_still_says_which_group_to_ask_for(people, new_flow):
    html = web(people["approver"]).post(reverse("payments:promotion_new"), form(new_flow))
    assert "ask a registry admin to add you to the right group" in html.content.decode()


def test_an_approval_posted_without_the_version_seen_is_refused(people, requested):
    response = web(people["approver"]).post(step_url(requested, "approve"), {}, follow=True)
    assert "may have changed after you opened it" in response.content.decode()
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED
    refusal = AuditEvent.objects.get(action="promotion.approved")
    assert (refusal.outcome, refusal.actor_name) == ("failure", "approver")


# --- The API ----------------------------------------------------------------------------------


def test_a_promotion_requested_and_approved_through_the_api(people, new_flow):
    response = api(people["registry"]).post(
        "/api/v1/promotions", api_body(new_flow), "application/json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["state"], created["requestedBy"], created["sourceFlow"]) == (
        "requested",
        "registry",
        697,
    )
    assert created["steps"] == ["edit", "cancel"]
    approver = api(people["approver"])
    assert approver.get(f"/api/v1/promotions/{created['id']}").json()["steps"] == [
        "approve",
        "reject",
    ]
    approved = approver.post(
        f"/api/v1/promotions/{created['id']}/approve",
        {"seen": created["version"]},
        "application/json",
    )
    assert approved.status_code == 200, approved.content
    assert (approved.json()["state"], approved.json()["approvedBy"]) == ("approved", "approver")
    assert approved.json()["steps"] == ["apply", "reject"]
    events = AuditEvent.objects.filter(object_type="promotion").order_by("pk")
    assert [(e.action, e.outcome, e.actor_name) for e in events] == [
        ("promotion.requested", "success", "registry"),
        ("promotion.approved", "success", "approver"),
    ]


def test_an_api_request_replayed_with_its_idempotency_key_is_one_promotion(people, new_flow):
    client, key = api(people["registry"]), str(uuid.uuid4())
    first, second = (
        client.post(
            "/api/v1/promotions",
            api_body(new_flow),
            "application/json",
            headers={"Idempotency-Key": key},
        )
        for _ in range(2)
    )
    assert first.json()["id"] == second.json()["id"]
    assert Promotion.objects.count() == 1


@pytest.mark.parametrize("seen", ["missing", "stale"])
def test_an_api_approval_without_the_current_version_is_refused(people, requested, seen):
    body = {} if seen == "missing" else {"seen": "2020-01-01T00:00:00Z"}
    response = api(people["approver"]).post(
        f"/api/v1/promotions/{requested.pk}/approve", body, "application/json"
    )
    assert response.status_code == 422
    assert "changed after you opened it" in response.json()["detail"]
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


def test_an_api_rule_broken_names_the_json_field(people, new_flow):
    body = {**api_body(new_flow), "productionFlowNumber": 422}
    response = api(people["registry"]).post("/api/v1/promotions", body, "application/json")
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["errors"]]
    assert ["body", "productionFlowNumber"] in locations
    assert "Flow 422 already exists" in response.json()["detail"]


def test_the_api_answers_404_for_an_unknown_flow_account_or_promotion(people, new_flow):
    client = api(people["registry"])
    unknown_flow = {**api_body(new_flow), "sourceFlow": 9999}
    unknown_account = {**api_body(new_flow), "targetAccount": "Nobody"}
    for body in (unknown_flow, unknown_account):
        response = client.post("/api/v1/promotions", body, "application/json")
        assert response.status_code == 404, response.content
    assert client.get("/api/v1/promotions/99999").status_code == 404
    assert not Promotion.objects.exists()


def test_the_api_asks_for_the_node_when_two_staging_nodes_have_the_flow(people, new_flow):
    from payments.models import PaymentFlow, PciEnvironment, Stage

    other = PciEnvironment.objects.create(stage=Stage.STAGING, name="PCI Pal staging 2")
    PaymentFlow.objects.create(environment=other, number=697, name="Card payment, node 2")
    client = api(people["registry"])

    response = client.post("/api/v1/promotions", api_body(new_flow), "application/json")
    assert response.status_code == 422
    assert "Several staging nodes have flow 697" in response.json()["detail"]
    body = {**api_body(new_flow), "sourceEnvironment": "PCI Pal staging 2"}
    assert client.post("/api/v1/promotions", body, "application/json").status_code == 201


def test_reading_a_promotion_fetches_what_it_shows_with_it(
    people, requested, django_assert_num_queries
):
    """Token, permissions, the promotion with its flows, account and people, its changes (9
    queries when each relation was read on its own)."""
    client = api(people["approver"])
    client.get(f"/api/v1/promotions/{requested.pk}")  # the token's first use also stamps it
    with django_assert_num_queries(4):
        assert client.get(f"/api/v1/promotions/{requested.pk}").status_code == 200


def test_an_agent_token_may_not_read_promotions(people, requested):
    response = api(people["agent"]).get(f"/api/v1/promotions/{requested.pk}")
    assert response.status_code == 403
    assert "may not see promotions" in response.json()["detail"]


def test_an_approval_needs_the_version_only_after_the_permission_checks(people, requested):
    """A forged approval without a version is recorded as what it is: the requester's own."""
    response = web(people["registry"]).post(step_url(requested, "approve"), {})
    assert response.status_code == 403
    assert AuditEvent.objects.get(action="promotion.approved").outcome == "denied"
