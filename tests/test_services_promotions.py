import uuid
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionState,
    Stage,
)
from payments.services import (
    audit_verify_chain,
    promotion_apply,
    promotion_approve,
    promotion_cancel,
    promotion_edit,
    promotion_reject,
    promotion_rollback,
    promotions,
)
from tests.conftest import raw_column
from tests.promotion_support import REASON, account, request
from tests.threads import postgres_only, run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(people, new_flow):
    return request(people, new_flow)


@pytest.fixture
def approved(people, requested):
    return promotion_approve(promotion=requested, actor=people["approver"])


@pytest.fixture
def applied(people, approved):
    return promotion_apply(promotion=approved, actor=people["approver"])


def events(action=None, **filters):
    queryset = AuditEvent.objects.filter(**filters)
    if action:
        queryset = queryset.filter(action=action)
    return list(queryset.order_by("id"))


def messages(excinfo) -> str:
    return " ".join(excinfo.value.messages)


# --- P1: the happy path ------------------------------------------------------------------


def test_applied_promotion_creates_the_production_flow_promoted_from_the_staging_flow(applied):
    flow = PaymentFlow.objects.get(environment__stage=Stage.PRODUCTION, number=424)
    assert flow.promoted_from.number == 697
    assert flow.name == "Card payment with 3-D Secure"
    assert applied.production_flow == flow
    assert applied.state == PromotionState.APPLIED


def test_applied_promotion_links_the_configuration_id_on_the_target_account(applied):
    link = AccountConfiguration.objects.get(account__name="Production", configuration_id=3)
    assert link.flow.number == 424
    assert link.is_active
    assert applied.production_link == link


def test_each_step_is_one_audit_event_with_who_what_when_and_why(people, applied):
    steps = events(object_type="promotion", object_id=str(applied.pk))
    assert [(e.action, e.actor_name, e.outcome) for e in steps] == [
        ("promotion.requested", "registry", "success"),
        ("promotion.approved", "approver", "success"),
        ("promotion.applied", "approver", "success"),
    ]
    assert steps[0].reason == REASON
    assert steps[0].after["production_flow_number"] == 424
    assert steps[1].before == {"state": "requested", "approved_by": ""}
    assert steps[1].after == {"state": "approved", "approved_by": "approver"}
    assert steps[2].after["production_flow"].startswith("Flow 424")
    assert all(e.created_at.utcoffset().total_seconds() == 0 for e in steps)
    assert audit_verify_chain() is None


def test_apply_also_records_the_created_flow_and_link(applied):
    reasons = {e.action: e.reason for e in events() if e.action.endswith(".created")}
    assert reasons["paymentflow.created"] == f"Promotion #{applied.pk}: {REASON}"
    assert reasons["accountconfiguration.created"] == f"Promotion #{applied.pk}: {REASON}"


def test_a_combined_account_is_a_valid_target(people, new_flow):
    promotion = request(
        people, new_flow, target_account=account("Contact Centre"), configuration_id=6
    )
    promotion_approve(promotion=promotion, actor=people["approver"])
    promotion_apply(promotion=promotion, actor=people["approver"])
    assert account("Contact Centre").configurations.get(configuration_id=6).flow.number == 424


def test_the_target_environment_defaults_to_the_providers_production_node(requested):
    assert requested.target_environment == PciEnvironment.objects.get(stage=Stage.PRODUCTION)


def test_a_missing_production_node_is_explained(people, new_flow):
    new_flow.environment = PciEnvironment.objects.create(
        provider="Other PCI", stage=Stage.STAGING, name="Other staging"
    )
    new_flow.save()
    with pytest.raises(ValidationError, match="no production node for Other PCI"):
        request(people, new_flow)


# --- P2, P9: bad input --------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_a_reason_is_required(people, new_flow, reason):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, reason=reason)
    assert "A reason is required" in messages(excinfo)
    assert not Promotion.objects.exists()
    assert not events("promotion.requested")


def test_a_reason_with_control_characters_is_refused(people, new_flow):
    with pytest.raises(ValidationError, match="control characters"):
        request(people, new_flow, reason="go live\x00\x1b[31m")
    assert not Promotion.objects.exists()


def test_an_oversized_reason_is_refused(people, new_flow):
    with pytest.raises(ValidationError, match="under 2000 characters"):
        request(people, new_flow, reason="x" * 2001)


def test_unicode_and_markup_in_the_reason_are_stored_as_typed(people, new_flow):
    reason = "Zürich go-live 🚀 <script>alert(1)</script>\nsecond line"
    assert request(people, new_flow, reason=reason).reason == reason


@pytest.mark.parametrize("number", [0, -1, 2**31, "424", None])
def test_the_flow_number_must_be_a_positive_whole_number(people, new_flow, number):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, production_flow_number=number)
    assert excinfo.value.message_dict["production_flow_number"]
    assert not Promotion.objects.exists()


# --- Rules checked at request -------------------------------------------------------------


def test_a_production_flow_cannot_be_the_source(people, demo):
    with pytest.raises(ValidationError, match="not on a staging node"):
        request(people, PaymentFlow.objects.get(number=422), production_flow_number=500)


def test_an_inactive_staging_flow_cannot_be_promoted(people, new_flow):
    new_flow.is_active = False
    new_flow.save()
    with pytest.raises(ValidationError, match="inactive"):
        request(people, new_flow)


def test_a_sandbox_account_is_not_a_target(people, new_flow):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, target_account=account("Sandbox"))
    assert "sandbox account" in excinfo.value.message_dict["target_account"][0]


def test_a_target_without_an_enabled_production_credential_is_refused(people, new_flow):
    """A target account needs its own enabled production credential (TEST_PLAN P7)."""
    ApiCredential.objects.filter(account__name="Production").update(is_enabled=False)
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow)
    assert "no enabled credential allowed for production" in messages(excinfo)
    assert "never copied" in messages(excinfo)


def test_a_credential_limited_to_staging_does_not_count(people, new_flow):
    ApiCredential.objects.filter(account__name="Production").update(allowed_environments="staging")
    with pytest.raises(ValidationError, match="no enabled credential allowed for production"):
        request(people, new_flow)


def test_a_flow_number_taken_on_production_is_refused(people, new_flow):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, production_flow_number=422)
    assert "Flow 422 already exists on PCI Pal production" in messages(excinfo)


def test_a_configuration_id_taken_on_the_target_account_is_refused(people, new_flow):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, configuration_id=1)
    assert "Production already uses id 1 (→ flow 422)" in messages(excinfo)


def test_a_flow_already_promoted_to_the_account_is_refused(people, demo):
    with pytest.raises(ValidationError) as excinfo:
        request(people, PaymentFlow.objects.get(number=695))
    assert "already promoted to Production: id 1 → flow 422" in messages(excinfo)


def test_a_second_open_promotion_of_the_same_flow_to_the_same_account_is_refused(
    people, requested, new_flow
):
    with pytest.raises(ValidationError, match="already exists"):
        request(people, new_flow, production_flow_number=425, configuration_id=4)
    assert Promotion.objects.count() == 1


def test_a_rejected_promotion_does_not_block_a_new_request(people, requested, new_flow):
    promotion_reject(promotion=requested, actor=people["approver"], reason="wrong id")
    again = request(people, new_flow, configuration_id=7)
    assert again.pk != requested.pk


def test_the_database_constraint_backs_up_the_open_promotion_check(people, requested, new_flow):
    with mock.patch("payments.services.promotions.rules.promotion_problems", return_value={}):
        with pytest.raises(ValidationError, match="already exists"):
            request(people, new_flow, production_flow_number=425, configuration_id=4)
    assert Promotion.objects.count() == 1


# --- Invariant 3: idempotent request -------------------------------------------------------


def test_a_replayed_request_with_the_same_key_is_one_promotion(people, new_flow):
    key = uuid.uuid4()
    first = request(people, new_flow, idempotency_key=key)
    second = request(people, new_flow, idempotency_key=str(key))
    assert first.pk == second.pk
    assert Promotion.objects.count() == 1
    assert len(events("promotion.requested")) == 1


def test_a_key_reused_for_a_different_request_is_refused(people, new_flow):
    key = uuid.uuid4()
    request(people, new_flow, idempotency_key=key)
    with pytest.raises(ValidationError, match="already used for another request"):
        request(people, new_flow, idempotency_key=key, configuration_id=9)


def test_a_malformed_key_is_refused(people, new_flow):
    with pytest.raises(ValidationError, match="malformed"):
        request(people, new_flow, idempotency_key="not-a-uuid")


# --- Invariant 4 and permissions (A3) -------------------------------------------------------


def test_the_requester_never_approves_their_own_promotion(people, requested):
    admin = people["admin"]
    own = request(
        people,
        PaymentFlow.objects.create(
            environment=requested.source_flow.environment, number=698, name="Refund 3DS"
        ),
        production_flow_number=425,
        configuration_id=4,
        actor=admin,
    )
    with pytest.raises(PermissionDenied, match="someone else must approve"):
        promotion_approve(promotion=own, actor=admin)
    own.refresh_from_db()
    assert own.state == PromotionState.REQUESTED and own.approved_by is None


def test_a_refused_self_approval_writes_one_denied_event_and_nothing_else(people, requested):
    people["registry"].user_permissions.add(*_permission("approve_promotion"))
    registry = User.objects.get(username="registry")
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        promotion_approve(promotion=requested, actor=registry)
    denied = events(outcome="denied")
    assert AuditEvent.objects.count() == before + 1
    assert [(e.action, e.actor_name) for e in denied] == [("promotion.approved", "registry")]
    assert "four eyes" in denied[0].reason
    assert requested.history.count() == 1


@pytest.mark.parametrize(
    ("username", "step"),
    [
        ("approver", "request"),
        ("auditor", "request"),
        ("registry", "approve"),
        ("auditor", "approve"),
        ("registry", "reject"),
        ("registry", "apply"),
        ("auditor", "apply"),
        ("registry", "rollback"),
        ("agent", "rollback"),
    ],
)
def test_each_step_checks_its_permission_in_the_service(people, applied, username, step):
    user = people[username]
    calls = {
        "request": lambda: request(
            people, applied.source_flow, actor=user, target_account=account("Contact Centre")
        ),
        "approve": lambda: promotion_approve(promotion=applied, actor=user),
        "reject": lambda: promotion_reject(promotion=applied, actor=user, reason="no"),
        "apply": lambda: promotion_apply(promotion=applied, actor=user),
        "rollback": lambda: promotion_rollback(promotion=applied, actor=user, reason="x"),
    }
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied, match="You may not"):
        calls[step]()
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.order_by("-id").first().outcome == "denied"
    assert Promotion.objects.count() == 1
    applied.refresh_from_db()
    assert applied.state == PromotionState.APPLIED


def test_the_steps_each_person_may_take_follow_the_state_machine(people, requested):
    def steps(promotion):
        return {
            name: promotion.steps_for(people[name]) for name in ("registry", "approver", "admin")
        }

    assert steps(requested) == {
        "registry": ["edit", "cancel"],
        "approver": ["approve", "reject"],
        "admin": ["approve", "reject"],
    }
    approved = promotion_approve(promotion=requested, actor=people["approver"])
    assert steps(approved)["approver"] == ["apply", "reject"]
    applied = promotion_apply(promotion=approved, actor=people["approver"])
    assert steps(applied) == {"registry": [], "approver": ["rollback"], "admin": ["rollback"]}
    assert requested.steps_for(people["auditor"]) == []


def test_the_requester_never_rejects_their_own_promotion_but_may_cancel_it(people, requested):
    people["registry"].user_permissions.add(*_permission("approve_promotion"))
    registry = User.objects.get(username="registry")
    with pytest.raises(PermissionDenied, match="another approver must act"):
        promotion_reject(promotion=requested, actor=registry, reason="changed my mind")
    assert events("promotion.rejected")[0].outcome == "denied"
    promotion_cancel(promotion=requested, actor=registry, reason="changed my mind")
    requested.refresh_from_db()
    assert requested.state == PromotionState.CANCELLED


def _permission(codename):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename=codename)


# --- Approve, edit, reject, cancel ------------------------------------------------------------


def test_approving_twice_changes_nothing(people, approved):
    again = promotion_approve(promotion=approved, actor=people["approver"])
    assert again.approved_at == approved.approved_at
    assert len(events("promotion.approved")) == 1


def test_editing_a_request_resets_its_approval(people, approved):
    edited = promotion_edit(
        promotion=approved,
        actor=people["registry"],
        production_flow_number=430,
        configuration_id=3,
        reason="The provider gave the flow number 430",
    )
    assert edited.state == PromotionState.REQUESTED
    assert edited.approved_by is None and edited.approved_at is None
    event = events("promotion.edited")[0]
    assert event.before["production_flow_number"] == 424
    assert event.after["production_flow_number"] == 430
    assert event.before["approved_by"] == "approver" and event.after["approved_by"] == ""


def test_only_the_requester_edits_a_request(people, requested):
    people["admin"].refresh_from_db()
    with pytest.raises(PermissionDenied, match="Only registry"):
        promotion_edit(
            promotion=requested,
            actor=people["admin"],
            production_flow_number=430,
            configuration_id=3,
            reason="mine now",
        )
    requested.refresh_from_db()
    assert requested.production_flow_number == 424


def test_an_approval_of_a_request_changed_since_it_was_opened_is_refused(people, requested):
    seen = requested.updated_at
    promotion_edit(
        promotion=requested,
        actor=people["registry"],
        production_flow_number=430,
        configuration_id=3,
        reason=REASON,
    )
    with pytest.raises(ValidationError, match="changed after you opened it") as refused:
        promotion_approve(promotion=requested, actor=people["approver"], seen_updated_at=seen)
    # The refusal shows the difference: what the edit changed since the approver's version.
    assert "production flow number 424 → 430" in " ".join(refused.value.messages)


def test_a_rejection_needs_a_reason(people, requested):
    with pytest.raises(ValidationError, match="Say why"):
        promotion_reject(promotion=requested, actor=people["approver"], reason=" ")
    requested.refresh_from_db()
    assert requested.state == PromotionState.REQUESTED


def test_a_rejected_promotion_records_who_and_why(people, requested):
    promotion_reject(promotion=requested, actor=people["approver"], reason="Wrong id")
    requested.refresh_from_db()
    assert (requested.state, requested.rejected_by.username) == ("rejected", "approver")
    assert requested.rejection_reason == "Wrong id"
    assert events("promotion.rejected")[0].reason == "Wrong id"


def test_the_requester_cancels_their_own_request(people, requested):
    promotion_cancel(promotion=requested, actor=people["registry"], reason="not needed")
    requested.refresh_from_db()
    assert requested.state == PromotionState.CANCELLED


def test_nobody_else_cancels_a_request(people, requested):
    with pytest.raises(PermissionDenied):
        promotion_cancel(promotion=requested, actor=people["admin"])


# --- Apply ------------------------------------------------------------------------------------


def test_only_approved_promotions_apply(people, requested):
    with pytest.raises(ValidationError, match="only an approved promotion can be applied"):
        promotion_apply(promotion=requested, actor=people["approver"])
    assert not PaymentFlow.objects.filter(number=424).exists()


def test_a_rejected_promotion_never_applies(people, approved):
    promotion_reject(promotion=approved, actor=people["approver"], reason="changed mind")
    with pytest.raises(ValidationError, match="is rejected"):
        promotion_apply(promotion=approved, actor=people["approver"])
    assert not PaymentFlow.objects.filter(number=424).exists()


def test_a_refused_apply_is_recorded_as_a_failure(people, requested):
    with pytest.raises(ValidationError):
        promotion_apply(promotion=requested, actor=people["approver"])
    failure = events("promotion.applied")[0]
    assert failure.outcome == "failure"
    assert "is requested" in failure.reason


def test_applying_twice_yields_one_result(people, applied):
    again = promotion_apply(promotion=applied, actor=people["admin"])
    assert again.production_flow_id == applied.production_flow_id
    assert again.applied_by.username == "approver"
    assert PaymentFlow.objects.filter(number=424).count() == 1
    assert AccountConfiguration.objects.filter(account__name="Production").count() == 3
    assert len(events("promotion.applied")) == 1


def test_rules_are_checked_again_at_apply(people, approved):
    PaymentFlow.objects.create(
        environment=approved.target_environment, number=424, name="Someone else's"
    )
    with pytest.raises(ValidationError, match="Flow 424 already exists"):
        promotion_apply(promotion=approved, actor=people["approver"])
    approved.refresh_from_db()
    assert approved.state == PromotionState.APPROVED
    assert not AccountConfiguration.objects.filter(account__name="Production", configuration_id=3)


def test_the_unique_constraints_back_up_the_checks_at_apply(people, approved):
    PaymentFlow.objects.create(environment=approved.target_environment, number=424, name="Race")
    real_check = promotions.rules.promotion_problems
    calls = []

    def check_missing_the_race(**kwargs):
        calls.append(kwargs)
        return {} if len(calls) == 1 else real_check(**kwargs)

    # As in a real race, neither the checks nor the model validation see the other row yet.
    with (
        mock.patch.object(
            promotions.rules, "promotion_problems", side_effect=check_missing_the_race
        ),
        mock.patch.object(PaymentFlow, "validate_unique"),
        mock.patch.object(PaymentFlow, "validate_constraints"),
    ):
        with pytest.raises(ValidationError, match="created by someone else a moment ago"):
            promotion_apply(promotion=approved, actor=people["approver"])
    approved.refresh_from_db()
    assert approved.state == PromotionState.APPROVED


def test_no_secret_is_copied_to_the_target_account(people, new_flow):
    """Applying a promotion copies no secret or ciphertext to the target (TEST_PLAN P7)."""
    staging_secret = raw_column(
        "payments_apicredential",
        "client_secret",
        ApiCredential.objects.get(client_id="sandbox-client-a").pk,
    )
    production = ApiCredential.objects.get(client_id="production-client-b")
    production_secret = raw_column("payments_apicredential", "client_secret", production.pk)
    credentials_before = list(ApiCredential.objects.values_list("pk", "secret_fingerprint"))
    promotion = request(people, new_flow)
    promotion_approve(promotion=promotion, actor=people["approver"])
    promotion_apply(promotion=promotion, actor=people["approver"])
    assert list(ApiCredential.objects.values_list("pk", "secret_fingerprint")) == (
        credentials_before
    )
    assert raw_column("payments_apicredential", "client_secret", production.pk) == (
        production_secret
    )
    link = AccountConfiguration.objects.get(account__name="Production", configuration_id=3)
    assert [c.client_id for c in link.launch_credentials()] == ["production-client-b"]
    everything = str(list(AuditEvent.objects.values()))
    assert staging_secret[:20] not in everything and production_secret[:20] not in everything


# --- P6: the audit row is part of the transaction ------------------------------------------------


def test_a_failing_audit_write_rolls_the_request_back(people, new_flow):
    with mock.patch(
        "payments.services.promotions._transition.audit_record",
        side_effect=RuntimeError("audit down"),
    ):
        with pytest.raises(RuntimeError):
            request(people, new_flow)
    assert not Promotion.objects.exists()


def test_a_failing_audit_write_rolls_the_apply_back(people, approved):
    with mock.patch(
        "payments.services.promotions._transition.audit_record", side_effect=RuntimeError("down")
    ):
        with pytest.raises(RuntimeError):
            promotion_apply(promotion=approved, actor=people["approver"])
    approved.refresh_from_db()
    assert approved.state == PromotionState.APPROVED
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert not AccountConfiguration.objects.filter(account__name="Production", configuration_id=3)


# --- Rollback -------------------------------------------------------------------------------------


def test_rollback_deactivates_the_production_link_and_records_why(people, applied):
    promotion_rollback(
        promotion=applied, actor=people["approver"], reason="Declines at the acquirer"
    )
    applied.refresh_from_db()
    assert applied.state == PromotionState.ROLLED_BACK
    assert applied.rollback_reason == "Declines at the acquirer"
    assert not applied.production_link.is_active
    event = events("promotion.rolled_back")[0]
    assert (event.reason, event.before["state"], event.after["state"]) == (
        "Declines at the acquirer",
        "applied",
        "rolled_back",
    )
    link_event = events("accountconfiguration.changed")[-1]
    assert link_event.before == {"is_active": True} and link_event.after == {"is_active": False}


def test_rollback_needs_a_reason(people, applied):
    with pytest.raises(ValidationError, match="Say why"):
        promotion_rollback(promotion=applied, actor=people["approver"], reason="")
    applied.refresh_from_db()
    assert applied.production_link.is_active


def test_only_an_applied_promotion_rolls_back(people, approved):
    with pytest.raises(ValidationError, match="only an applied promotion can be rolled back"):
        promotion_rollback(promotion=approved, actor=people["approver"], reason="x")


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------


@postgres_only
def test_concurrent_requests_for_one_flow_and_account_make_one_promotion(people, new_flow):
    """8 requests at once make one promotion; 7 get a clean refusal (TEST_PLAN P3)."""
    outcomes = run_together(8, lambda i: request(people, new_flow, configuration_id=10 + i))
    created = [o.value for o in outcomes if o.error is None]
    refused = [o.error for o in outcomes if o.error is not None]
    assert len(created) == 1, refused
    assert all(isinstance(e, ValidationError) and "already exists" in str(e) for e in refused)
    assert Promotion.objects.count() == 1
    assert len(events("promotion.requested")) == 1


@postgres_only
def test_concurrent_replays_of_one_request_all_see_the_same_promotion(people, new_flow):
    """8 replays of one key at once make one promotion, seen by all (TEST_PLAN P4)."""
    key = uuid.uuid4()
    outcomes = run_together(8, lambda i: request(people, new_flow, idempotency_key=key))
    assert [o.error for o in outcomes] == [None] * 8
    assert {o.value.pk for o in outcomes} == {Promotion.objects.get().pk}
    assert len(events("promotion.requested")) == 1


@postgres_only
def test_concurrent_applies_make_one_flow_one_link_and_one_applied_event(people, approved):
    outcomes = run_together(
        8, lambda i: promotion_apply(promotion=approved, actor=people["approver"])
    )
    assert [o.error for o in outcomes] == [None] * 8
    assert {o.value.production_flow_id for o in outcomes} == {
        PaymentFlow.objects.get(number=424).pk
    }
    assert AccountConfiguration.objects.filter(account__name="Production").count() == 3
    assert len(events("promotion.applied")) == 1
    assert audit_verify_chain() is None


@postgres_only
def test_a_storm_of_requests_across_flows_and_accounts_finishes_without_deadlock(people):
    """20 requesters on 5 flows x 2 accounts: one per pair, no deadlock (TEST_PLAN LD3)."""
    staging = PciEnvironment.objects.get(stage=Stage.STAGING)
    flows = [
        PaymentFlow.objects.create(environment=staging, number=800 + i, name=f"Storm {i}")
        for i in range(5)
    ]
    targets = [account("Production"), account("Contact Centre")]

    def promote(index):
        flow, target = flows[index % 5], targets[index // 10]
        return request(
            people,
            flow,
            target_account=target,
            production_flow_number=900 + index,
            configuration_id=90 + index,
        )

    outcomes = run_together(20, promote)
    refused = [o.error for o in outcomes if o.error is not None]
    assert all(isinstance(e, ValidationError) for e in refused), refused
    assert Promotion.objects.count() == 10 == 20 - len(refused)
    assert audit_verify_chain() is None
