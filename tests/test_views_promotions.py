import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import (
    AccountConfiguration,
    AuditEvent,
    PaymentFlow,
    PaymentSession,
    PciEnvironment,
    Promotion,
    PromotionState,
    SessionKind,
    Stage,
    VccAccount,
)
from payments.services import promotion_apply, promotion_approve, promotion_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(people):
    def log_in(username: str, **client_options) -> Client:
        client = Client(**client_options)
        client.force_login(people[username])
        return client

    return log_in


def form_data(flow, **overrides) -> dict:
    data = {
        "source_flow": flow.pk,
        "target_account": VccAccount.objects.get(name="Production").pk,
        "production_flow_number": 424,
        "configuration_id": 3,
        "target_environment": "",
        "reason": "3-D Secure goes live",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(overrides)
    return data


@pytest.fixture
def requested(people, new_flow):
    return promotion_request(
        source_flow=new_flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure goes live",
        actor=people["registry"],
    )


@pytest.fixture
def applied(people, requested):
    promotion_approve(promotion=requested, actor=people["approver"])
    return promotion_apply(promotion=requested, actor=people["approver"])


def step_url(promotion, step):
    return reverse("payments:promotion_step", args=[promotion.pk, step])


def page(promotion):
    return reverse("payments:promotion", args=[promotion.pk])


# --- Pages and who may open them --------------------------------------------------------------


def test_the_promotions_page_lists_pending_requests(as_user, requested):
    html = as_user("approver").get(reverse("payments:promotions")).content.decode()
    assert f"#{requested.pk}" in html
    assert 'Waiting for approval or apply <span class="muted">(1)</span>' in html


@pytest.mark.parametrize("username", ["agent", "launcher"])
def test_people_without_a_promotion_role_are_refused(as_user, username):
    response = as_user(username).get(reverse("payments:promotions"))
    assert response.status_code == 403
    assert "You may not see promotions" in response.content.decode()


def test_the_navigation_shows_promotions_and_audit_to_an_auditor(as_user):
    html = as_user("auditor").get(reverse("payments:home")).content.decode()
    assert reverse("payments:promotions") in html and reverse("payments:audit") in html


def test_the_request_form_shows_the_numbers_in_use(as_user, new_flow):
    html = as_user("registry").get(reverse("payments:promotion_new")).content.decode()
    assert "422, 423" in html
    assert "Ids on Contact Centre" in html and "1, 2, 3, 4, 5" in html
    assert re.search(r'name="idempotency_key" value="[0-9a-f-]{36}"', html)


def test_the_request_form_is_prefilled_from_the_comparison_page(as_user, new_flow):
    url = f"{reverse('payments:promotion_new')}?source_flow={new_flow.pk}&target_account=x"
    html = as_user("registry").get(url).content.decode()
    assert f'<option value="{new_flow.pk}" selected>' in html


def test_the_request_form_is_refused_to_an_approver(as_user):
    assert as_user("approver").get(reverse("payments:promotion_new")).status_code == 403


# --- Request ------------------------------------------------------------------------------------


def test_a_posted_request_creates_the_promotion_and_opens_it(as_user, new_flow):
    response = as_user("registry").post(reverse("payments:promotion_new"), form_data(new_flow))
    promotion = Promotion.objects.get()
    assert response.status_code == 302 and response.url == page(promotion)
    assert promotion.requested_by.username == "registry"
    event = AuditEvent.objects.get(action="promotion.requested")
    assert event.origin == "127.0.0.1"


def test_a_double_submitted_form_makes_one_promotion(as_user, new_flow):
    """A form submitted twice carries one key and makes one promotion (TEST_PLAN P4)."""
    client, data = as_user("registry"), form_data(new_flow)
    first = client.post(reverse("payments:promotion_new"), data)
    second = client.post(reverse("payments:promotion_new"), data)
    assert first.url == second.url
    assert Promotion.objects.count() == 1


def test_extra_posted_fields_are_ignored(as_user, people, new_flow):
    """approved_by, state and requested_by come from the server, not the form (TEST_PLAN A8)."""
    data = form_data(
        new_flow,
        state="applied",
        approved_by=people["approver"].pk,
        requested_by=people["approver"].pk,
        production_flow=PaymentFlow.objects.get(number=422).pk,
    )
    as_user("registry").post(reverse("payments:promotion_new"), data)
    promotion = Promotion.objects.get()
    assert promotion.state == PromotionState.REQUESTED
    assert promotion.requested_by.username == "registry"
    assert promotion.approved_by is None and promotion.production_flow is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reason": ""}, "This field is required."),
        ({"production_flow_number": "abc"}, "Enter a whole number."),
        ({"production_flow_number": "0"}, "greater than or equal to 1"),
        ({"configuration_id": "99999999999"}, "less than or equal to 2147483647"),
        ({"source_flow": "999999"}, "Select a valid choice."),
        ({"reason": "x" * 2001}, "at most 2000 characters"),
        ({"reason": "bad\x00byte"}, "Null characters are not allowed."),
        ({"idempotency_key": "nope"}, "This form is damaged: reload the page"),
    ],
)
def test_bad_input_is_answered_with_a_message_and_writes_nothing(
    as_user, new_flow, overrides, message
):
    """Bad input is answered with a message and writes nothing (TEST_PLAN P2, P9)."""
    response = as_user("registry").post(
        reverse("payments:promotion_new"), form_data(new_flow, **overrides)
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Promotion.objects.exists()


def test_a_rule_broken_is_shown_on_its_field(as_user, new_flow):
    response = as_user("registry").post(
        reverse("payments:promotion_new"), form_data(new_flow, production_flow_number=422)
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(r"Production flow number.*Flow 422 already exists", html, re.S)
    assert not Promotion.objects.exists()


def test_a_reason_with_markup_is_shown_escaped(as_user, new_flow):
    """A reason with markup is stored as typed and shown escaped (TEST_PLAN P9)."""
    client = as_user("registry")
    client.post(reverse("payments:promotion_new"), form_data(new_flow, reason="<b>bold</b> go"))
    html = client.get(page(Promotion.objects.get())).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; go" in html and "<b>bold</b>" not in html


# --- Steps --------------------------------------------------------------------------------------


def test_an_approver_approves_then_applies_from_the_page(as_user, requested):
    client = as_user("approver")
    html = client.get(page(requested)).content.decode()
    seen = re.search(r'name="seen" value="([^"]+)"', html).group(1)
    assert client.post(step_url(requested, "approve"), {"seen": seen}).status_code == 302
    client.post(step_url(requested, "apply"))
    requested.refresh_from_db()
    assert requested.state == PromotionState.APPLIED
    html = client.get(page(requested)).content.decode()
    assert "is applied: flow 424 and id 3 on Production are live" in html


def test_an_approval_of_a_page_opened_before_an_edit_is_refused(as_user, people, requested):
    approver = as_user("approver")
    stale = re.search(
        r'name="seen" value="([^"]+)"', approver.get(page(requested)).content.decode()
    ).group(1)
    as_user("registry").post(
        reverse("payments:promotion_edit", args=[requested.pk]),
        {"production_flow_number": 430, "configuration_id": 3, "reason": "new number"},
    )
    response = approver.post(step_url(requested, "approve"), {"seen": stale}, follow=True)
    assert "changed after you opened it" in response.content.decode()
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


def test_the_requester_sees_no_approve_button_and_a_forced_post_is_refused(as_user, requested):
    client = as_user("registry")
    html = client.get(page(requested)).content.decode()
    assert "someone else in the Approvers group approves it" in html
    assert step_url(requested, "approve") not in html
    response = client.post(step_url(requested, "approve"))
    assert response.status_code == 403
    assert "recorded in the audit trail" in response.content.decode()
    assert AuditEvent.objects.filter(action="promotion.approved", outcome="denied").count() == 1


def test_a_superuser_cannot_approve_their_own_request(as_user, people, new_flow):
    client = as_user("admin")
    client.post(reverse("payments:promotion_new"), form_data(new_flow))
    promotion = Promotion.objects.get()
    assert client.post(step_url(promotion, "approve")).status_code == 403
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.REQUESTED


def test_a_step_needs_a_post(as_user, requested):
    """A GET (the address bar) takes no step and leads to the promotion's page (TEST_PLAN X2)."""
    response = as_user("approver").get(step_url(requested, "approve"))
    assert response.status_code == 302
    assert response["Location"] == f"/promotions/{requested.pk}/"
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


def test_a_step_without_the_csrf_token_is_refused(as_user, requested):
    """A promotion step without the CSRF token is refused (TEST_PLAN X1)."""
    client = as_user("approver", enforce_csrf_checks=True)
    assert client.post(step_url(requested, "approve")).status_code == 403
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


def test_an_unknown_step_or_promotion_is_not_found(as_user, requested):
    client = as_user("approver")
    assert client.post(step_url(requested, "delete")).status_code == 404
    assert client.get(reverse("payments:promotion", args=[99999])).status_code == 404


def test_a_rejection_without_a_reason_is_explained(as_user, requested):
    response = as_user("approver").post(step_url(requested, "reject"), {"reason": ""}, follow=True)
    assert "A reason is required" in response.content.decode()
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


def test_a_rollback_from_the_page_switches_the_link_off(as_user, applied):
    client = as_user("approver")
    client.post(step_url(applied, "rollback"), {"reason": "acquirer declines"})
    applied.refresh_from_db()
    assert applied.state == PromotionState.ROLLED_BACK
    assert not applied.production_link.is_active


def test_editing_an_approved_request_resets_its_approval(as_user, people, requested):
    promotion_approve(promotion=requested, actor=people["approver"])
    response = as_user("registry").post(
        reverse("payments:promotion_edit", args=[requested.pk]),
        {"production_flow_number": 430, "configuration_id": 3, "reason": "new number"},
        follow=True,
    )
    assert "its approval was reset" in response.content.decode()
    requested.refresh_from_db()
    assert (requested.state, requested.approved_by) == (PromotionState.REQUESTED, None)


def test_nobody_but_the_requester_opens_the_edit_form(as_user, requested):
    response = as_user("admin").get(reverse("payments:promotion_edit", args=[requested.pk]))
    assert response.status_code == 403


def test_the_page_shows_what_apply_will_change(as_user, requested):
    html = as_user("approver").get(page(requested)).content.decode()
    assert "What applying will change" in html
    assert "id <strong>1</strong> → flow 422" in html
    assert "flow <strong>424</strong>" in html
    assert "<strong>B</strong> (production only)" in html
    assert "No secret is copied between accounts." in html


def test_the_page_warns_when_apply_would_be_refused(as_user, requested):
    PaymentFlow.objects.create(
        environment=requested.target_environment, number=424, name="Taken meanwhile"
    )
    html = as_user("approver").get(page(requested)).content.decode()
    assert "Applying would be refused now" in html and "Flow 424 already exists" in html


def test_each_step_is_shown_with_its_before_and_after(as_user, applied):
    html = as_user("auditor").get(page(applied)).content.decode()
    for action in ["promotion.requested", "promotion.approved", "promotion.applied"]:
        assert action in html
    assert '<td class="before">approved</td><td class="after">applied</td>' in html


def _session(promotion, user, **fields):
    flow = promotion.production_flow
    return PaymentSession.objects.create(
        launched_by=user,
        kind=SessionKind.AGENT_ASSIST,
        account=promotion.target_account,
        account_name=promotion.target_account.name,
        credential_label="B",
        link=promotion.production_link,
        configuration_id=promotion.configuration_id,
        flow=flow,
        flow_number=flow.number,
        flow_name=flow.name,
        stage=Stage.PRODUCTION,
        environment_name=flow.environment.name,
        outcome="created",
        **fields,
    )


def test_the_page_counts_sessions_launched_on_the_production_flow_since(as_user, people, applied):
    _session(applied, people["launcher"], session_guid="guid-1")
    _session(applied, people["launcher"], session_guid="guid-2")
    html = as_user("auditor").get(page(applied)).content.decode()
    assert "<strong>2</strong> sessions since" in html
    assert html.count("<td>launcher</td>") == 2


# --- Environment comparison -------------------------------------------------------------------


def _compare(as_user) -> str:
    return as_user("auditor").get(reverse("payments:environments")).content.decode()


def _row(html: str, staging: int, account: str) -> str:
    rows = re.findall(r"<tr>.*?</tr>", html, re.S)
    return next(
        row for row in rows if f">{staging}</span>" in row and f"<td>{account} <span" in row
    )


def test_the_comparison_shows_promoted_flows(as_user):
    html = _compare(as_user)
    assert "promoted</span>" in _row(html, 695, "Production")
    assert "promoted</span>" in _row(html, 696, "Contact Centre")


def test_the_comparison_shows_a_flow_not_yet_promoted_with_a_request_link(as_user, new_flow):
    row = _row(_compare(as_user), 697, "Production")
    assert "not yet promoted" in row
    assert "Request promotion" not in row  # auditors may not request
    registry_html = as_user("registry").get(reverse("payments:environments")).content.decode()
    assert f"?source_flow={new_flow.pk}&amp;target_account=" in _row(
        registry_html, 697, "Production"
    )


def test_the_comparison_shows_a_missing_production_link(as_user):
    AccountConfiguration.objects.filter(account__name="Contact Centre", configuration_id=5).update(
        is_active=False
    )
    row = _row(_compare(as_user), 696, "Contact Centre")
    assert "production link missing" in row and "no active id for flow 423" in row


def test_the_comparison_shows_an_inactive_production_flow(as_user):
    PaymentFlow.objects.filter(number=423).update(is_active=False)
    assert "production flow inactive" in _row(_compare(as_user), 696, "Production")


def test_the_comparison_shows_drift(as_user):
    """A production link to a same-named flow that was not promoted from this staging flow."""
    stray = PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.PRODUCTION),
        number=430,
        name="Card payment",
    )
    AccountConfiguration.objects.create(
        account=VccAccount.objects.get(name="Production"), configuration_id=9, flow=stray
    )
    row = _row(_compare(as_user), 695, "Production")
    assert "drift" in row and "id 9 → flow 430 has the same name but was promoted from no" in row


def test_the_comparison_links_an_open_promotion(as_user, requested):
    assert f"#{requested.pk} requested" in _row(_compare(as_user), 697, "Production")


# --- Topology -------------------------------------------------------------------------------


def test_the_topology_page_draws_both_topologies_from_live_data(as_user):
    html = as_user("auditor").get(reverse("payments:topology")).content.decode()
    assert html.count("<svg") == 2
    assert "Separate accounts" in html and "Single account: Contact Centre" in html
    for text in ["Flow 695", "Flow 422", "credentials A · staging only", "id 4", ">promoted<"]:
        assert text in html


@pytest.mark.parametrize("slug", ["separate", "account"])
def test_either_topology_downloads_as_svg(as_user, slug):
    if slug == "account":
        slug = f"account-{VccAccount.objects.get(name='Contact Centre').pk}"
    response = as_user("auditor").get(reverse("payments:topology_svg", args=[slug]))
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = response.content.decode()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "style=" not in svg and "<script" not in svg


def test_an_unknown_topology_is_not_found(as_user):
    response = as_user("auditor").get(reverse("payments:topology_svg", args=["account-9999"]))
    assert response.status_code == 404


def test_the_topology_shows_a_pending_promotion_and_escapes_names(as_user, requested):
    VccAccount.objects.filter(name="Production").update(name="Prod <&> Co")
    svg = as_user("auditor").get(reverse("payments:topology_svg", args=["separate"])).content
    svg = svg.decode()
    assert f"promotion #{requested.pk} requested" in svg
    assert "id 3 (pending)" in svg
    assert "Prod &lt;&amp;&gt; Co" in svg and "Prod <&>" not in svg


def test_the_topology_greys_out_a_rolled_back_link(as_user, people, applied):
    from payments.services import promotion_rollback

    promotion_rollback(promotion=applied, actor=people["approver"], reason="undo")
    svg = as_user("auditor").get(reverse("payments:topology_svg", args=["separate"])).content
    assert "id 3 (inactive)" in svg.decode()


# --- Admin --------------------------------------------------------------------------------------

CHANGELIST = reverse("admin:payments_promotion_changelist")


def test_adding_a_promotion_in_the_admin_opens_the_request_page(as_user):
    response = as_user("registry").get(reverse("admin:payments_promotion_add"))
    assert response.status_code == 302 and response.url == reverse("payments:promotion_new")


def test_an_approver_approves_pending_requests_with_an_admin_action(as_user, requested):
    response = as_user("approver").post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [requested.pk]}, follow=True
    )
    assert "1 promotion(s) approved." in response.content.decode()
    requested.refresh_from_db()
    assert requested.state == PromotionState.APPROVED


def test_the_admin_reject_action_asks_for_a_reason_first(as_user, requested):
    client = as_user("approver")
    selection = {"action": "reject_selected", "_selected_action": [requested.pk]}
    form = client.post(CHANGELIST, selection)
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED
    client.post(CHANGELIST, {**selection, "reason": "wrong configuration id"})
    requested.refresh_from_db()
    assert requested.state == PromotionState.REJECTED
    assert requested.rejection_reason == "wrong configuration id"


def test_an_admin_action_refused_by_a_rule_says_why(as_user, requested):
    response = as_user("approver").post(
        CHANGELIST, {"action": "apply_selected", "_selected_action": [requested.pk]}, follow=True
    )
    assert f"#{requested.pk}: Promotion #{requested.pk} is requested" in response.content.decode()


def test_the_admin_change_page_lists_each_step_with_before_and_after(as_user, applied):
    html = (
        as_user("auditor")
        .get(reverse("admin:payments_promotion_change", args=[applied.pk]))
        .content.decode()
    )
    assert "<b>promotion.applied</b>" in html
    assert "state: approved → applied" in html
    assert reverse("payments:promotion", args=[applied.pk]) in html
