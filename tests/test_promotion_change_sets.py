"""A promotion is a change set: create a production flow, link it on accounts, switch links off."""

import importlib
import uuid

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from payments.models import (
    AccountConfiguration,
    AccountKind,
    AllowedEnvironments,
    AuditEvent,
    ChangeKind,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionChange,
    PromotionState,
    Stage,
)
from payments.selectors.audit import promotion_story
from payments.services import (
    audit_verify_chain,
    promotion_apply,
    promotion_approve,
    promotion_edit,
    promotion_request,
    promotion_rollback,
)
from tests.factories import (
    ApiCredentialFactory,
    PaymentFlowFactory,
    PciEnvironmentFactory,
    UserFactory,
    VccAccountFactory,
)
from tests.promotion_support import REASON, account, request
from tests.threads import postgres_only, run_together

pytestmark = pytest.mark.django_db


def link_of(name: str, configuration_id: int) -> AccountConfiguration:
    return AccountConfiguration.objects.get(account__name=name, configuration_id=configuration_id)


def approve_and_apply(promotion, people) -> Promotion:
    promotion_approve(promotion=promotion, actor=people["approver"])
    return promotion_apply(promotion=promotion, actor=people["approver"])


def kinds(promotion) -> list[str]:
    return list(promotion.changes.order_by("position").values_list("kind", flat=True))


@pytest.fixture
def promoted_699(people, demo):
    """The README's step 3: flow 699 promoted to production flow 424 on Production, id 3."""
    promotion = request(people, PaymentFlow.objects.get(number=699))
    return approve_and_apply(promotion, people)


# --- The guide's single-account case, from an empty registry -------------------------------


@pytest.fixture
def guide_registry(db):
    staging = PciEnvironmentFactory(stage=Stage.STAGING, name="PCI Pal staging")
    PciEnvironmentFactory(stage=Stage.PRODUCTION, name="PCI Pal production")
    production = VccAccountFactory(name="Production", kind=AccountKind.PRODUCTION)
    contact_centre = VccAccountFactory(name="Contact Centre", kind=AccountKind.COMBINED)
    ApiCredentialFactory(account=production, allowed_environments=AllowedEnvironments.PRODUCTION)
    ApiCredentialFactory(account=contact_centre, allowed_environments=AllowedEnvironments.BOTH)
    return {
        "flow": PaymentFlowFactory(environment=staging, number=695, name="Card payment"),
        "registry": UserFactory(username="registry", groups=["Registry admins"]),
        "approver": UserFactory(username="approver", groups=["Approvers"]),
    }


def test_change_set_guide_case_is_one_request(guide_registry):
    """Staging 695 -> production 422, linked as Production id 1 and Contact Centre id 4."""
    people = guide_registry
    promotion = promotion_request(
        source_flow=people["flow"],
        target_account=account("Production"),
        production_flow_number=422,
        configuration_id=1,
        links=[(account("Contact Centre"), 4)],
        reason="The guide's single-account setup",
        actor=people["registry"],
    )
    assert kinds(promotion) == [ChangeKind.CREATE_FLOW, ChangeKind.LINK, ChangeKind.LINK]
    approve_and_apply(promotion, people)
    flow = PaymentFlow.objects.get(environment__stage=Stage.PRODUCTION)
    assert (flow.number, flow.promoted_from.number) == (422, 695)
    assert link_of("Production", 1).flow == flow and link_of("Contact Centre", 4).flow == flow
    assert Promotion.objects.count() == 1
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPLIED
    assert (promotion.production_flow, promotion.production_link) == (
        flow,
        link_of("Production", 1),
    )
    assert [e.action for e in AuditEvent.objects.filter(action="promotion.applied")] == [
        "promotion.applied"
    ]
    assert audit_verify_chain() is None


# --- A production flow already promoted from the staging flow is linked, not created again ---


def test_change_set_existing_lineage_flow_is_linked_not_created(people, promoted_699):
    """The README's step 4: flow 424 goes to Contact Centre too, as id 6."""
    promotion = request(
        people,
        promoted_699.source_flow,
        target_account=account("Contact Centre"),
        configuration_id=6,
    )
    assert kinds(promotion) == [ChangeKind.LINK]
    assert promotion.changes.get().flow == promoted_699.production_flow
    approve_and_apply(promotion, people)
    assert PaymentFlow.objects.filter(number=424).count() == 1
    assert link_of("Contact Centre", 6).flow == promoted_699.production_flow
    assert link_of("Production", 3).is_active
    promotion.refresh_from_db()
    assert promotion.production_flow == promoted_699.production_flow


def test_change_set_flow_of_another_lineage_is_refused_naming_it(people, new_flow):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, production_flow_number=422)
    message = " ".join(excinfo.value.message_dict["production_flow_number"])
    assert "Flow 422 already exists on PCI Pal production" in message
    assert "promoted from staging flow 695 “Card payment”, not from 697" in message


def test_change_set_flow_promoted_from_nothing_is_refused_saying_so(people, new_flow):
    PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.PRODUCTION), number=500, name="Hand"
    )
    with pytest.raises(ValidationError, match="was not promoted from a staging flow"):
        request(people, new_flow, production_flow_number=500)


# --- Further links and switch-offs in the same request -----------------------------------------


def test_change_set_links_add_further_links_of_the_same_flow(people, new_flow):
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    approve_and_apply(promotion, people)
    flow = PaymentFlow.objects.get(number=424)
    assert {link.account.name for link in flow.configurations.all()} == {
        "Production",
        "Contact Centre",
    }
    assert link_of("Contact Centre", 6).flow == flow


def test_change_set_link_to_a_sandbox_account_is_refused(people, new_flow):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, links=[(account("Sandbox"), 9)])
    assert "Sandbox is a sandbox account" in " ".join(excinfo.value.message_dict["links"])
    assert not Promotion.objects.exists()


def test_change_set_id_taken_on_a_further_account_is_refused(people, new_flow):
    with pytest.raises(ValidationError) as excinfo:
        request(people, new_flow, links=[(account("Contact Centre"), 4)])
    assert "Contact Centre already uses id 4 (→ flow 422)" in " ".join(
        excinfo.value.message_dict["links"]
    )


def test_change_set_same_account_twice_is_refused(people, new_flow):
    with pytest.raises(ValidationError, match="Contact Centre is linked twice"):
        request(
            people,
            new_flow,
            links=[(account("Contact Centre"), 6), (account("Contact Centre"), 7)],
        )


def test_change_set_malformed_further_id_is_refused(people, new_flow):
    with pytest.raises(ValidationError, match="Contact Centre: Enter a whole number"):
        request(people, new_flow, links=[(account("Contact Centre"), 0)])


def test_change_set_account_linked_by_another_open_set_is_refused(people, new_flow):
    first = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    with pytest.raises(ValidationError) as excinfo:
        request(
            people,
            new_flow,
            target_account=account("Contact Centre"),
            configuration_id=7,
        )
    assert f"already exists (#{first.pk}, requested)" in " ".join(excinfo.value.messages)


def test_change_set_deactivates_a_production_link(people, new_flow):
    old = link_of("Production", 1)
    promotion = request(people, new_flow, deactivate=[old])
    assert kinds(promotion)[-1] == ChangeKind.DEACTIVATE
    approve_and_apply(promotion, people)
    old.refresh_from_db()
    assert not old.is_active
    assert link_of("Production", 3).is_active


def test_change_set_refuses_to_switch_off_a_staging_link(people, new_flow):
    with pytest.raises(ValidationError, match="is not a production link"):
        request(people, new_flow, deactivate=[link_of("Sandbox", 1)])


# --- All or nothing, idempotent, reversible -------------------------------------------------


def test_change_set_apply_is_all_or_nothing(people, new_flow):
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    promotion_approve(promotion=promotion, actor=people["approver"])
    # The id is taken directly after the approval: the second link cannot be made.
    AccountConfiguration.objects.create(
        account=account("Contact Centre"),
        configuration_id=6,
        flow=PaymentFlow.objects.get(number=695),
    )
    with pytest.raises(ValidationError, match="Contact Centre already uses id 6"):
        promotion_apply(promotion=promotion, actor=people["approver"])
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert not AccountConfiguration.objects.filter(account__name="Production", configuration_id=3)
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPROVED


def test_change_set_apply_twice_changes_nothing(people, new_flow):
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    approve_and_apply(promotion, people)
    events_before = AuditEvent.objects.count()
    promotion_apply(promotion=promotion, actor=people["admin"])
    assert AuditEvent.objects.count() == events_before
    assert AccountConfiguration.objects.filter(flow__number=424).count() == 2


def test_change_set_rollback_reverses_the_whole_set(people, new_flow):
    old = link_of("Production", 1)
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)], deactivate=[old])
    approve_and_apply(promotion, people)
    promotion_rollback(promotion=promotion, actor=people["approver"], reason="Declines")
    old.refresh_from_db()
    assert old.is_active  # switched back on
    assert not link_of("Production", 3).is_active and not link_of("Contact Centre", 6).is_active
    # The flow it created stays, switched off: nothing links it any more.
    assert not PaymentFlow.objects.get(number=424).is_active


def test_change_set_relinking_after_rollback_switches_the_flow_on_again(people, promoted_699):
    promotion_rollback(promotion=promoted_699, actor=people["approver"], reason="Declines")
    again = request(people, promoted_699.source_flow, configuration_id=7)
    assert kinds(again) == [ChangeKind.LINK]
    approve_and_apply(again, people)
    flow = PaymentFlow.objects.get(number=424)
    assert flow.is_active and link_of("Production", 7).flow == flow
    promotion_rollback(promotion=again, actor=people["approver"], reason="Still declining")
    flow.refresh_from_db()
    assert not flow.is_active


def test_change_set_replay_with_the_same_key_and_links_is_one_promotion(people, new_flow):
    key = uuid.uuid4()
    links = [(account("Contact Centre"), 6)]
    first = request(people, new_flow, links=links, idempotency_key=key)
    assert request(people, new_flow, links=links, idempotency_key=key) == first
    with pytest.raises(ValidationError, match="already used for another request"):
        request(people, new_flow, links=[(account("Contact Centre"), 7)], idempotency_key=key)


def test_change_set_edit_replaces_the_further_links(people, new_flow):
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    promotion_edit(
        promotion=promotion,
        actor=people["registry"],
        production_flow_number=424,
        configuration_id=3,
        reason=REASON,
        links=[(account("Contact Centre"), 7)],
    )
    links = promotion.changes.filter(kind=ChangeKind.LINK).order_by("position")
    assert [(c.account.name, c.configuration_id) for c in links] == [
        ("Production", 3),
        ("Contact Centre", 7),
    ]
    edited = AuditEvent.objects.get(action="promotion.edited")
    assert "Contact Centre id 6" in edited.before["changes"]
    assert "Contact Centre id 7" in edited.after["changes"]


def test_change_set_edit_without_links_keeps_them(people, new_flow):
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    promotion_edit(
        promotion=promotion,
        actor=people["registry"],
        production_flow_number=425,
        configuration_id=3,
        reason=REASON,
    )
    assert kinds(promotion) == [ChangeKind.CREATE_FLOW, ChangeKind.LINK, ChangeKind.LINK]
    assert promotion.changes.get(kind=ChangeKind.CREATE_FLOW).flow_number == 425


def test_change_set_story_shows_every_change_with_before_and_after(people, new_flow):
    old = link_of("Production", 1)
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)], deactivate=[old])
    approve_and_apply(promotion, people)
    story = promotion_story(promotion)
    objects = [(e.action, e.object_repr) for e in story if e.object_type != "promotion"]
    assert ("paymentflow.created", str(PaymentFlow.objects.get(number=424))) in objects
    assert ("accountconfiguration.created", str(link_of("Contact Centre", 6))) in objects
    switched_off = next(e for e in story if e.object_id == str(old.pk))
    assert (switched_off.before, switched_off.after) == ({"is_active": True}, {"is_active": False})
    requested = story[0]
    assert "switch off Production id 1 → flow 422" in requested.after["changes"]


def test_change_set_migration_turns_old_promotions_into_sets(people, promoted_699):
    promoted_699.changes.all().delete()
    migration = importlib.import_module("payments.migrations.0008_promotion_change_sets")
    migration.promotions_become_change_sets(apps, None)
    changes = list(promoted_699.changes.order_by("position"))
    assert [(c.kind, c.flow_id) for c in changes] == [
        (ChangeKind.CREATE_FLOW, promoted_699.production_flow_id),
        (ChangeKind.LINK, promoted_699.production_flow_id),
    ]
    assert (changes[1].account, changes[1].configuration_id, changes[1].link) == (
        promoted_699.target_account,
        3,
        promoted_699.production_link,
    )
    # Rolling a migrated promotion back still switches its link off.
    promotion_rollback(promotion=promoted_699, actor=people["approver"], reason="Declines")
    assert not link_of("Production", 3).is_active


def test_change_set_database_refuses_a_link_without_an_account(people, new_flow):
    promotion = request(people, new_flow)
    with pytest.raises(Exception, match="promotionchange_link_has_account_and_id"):
        PromotionChange.objects.create(promotion=promotion, position=9, kind=ChangeKind.LINK)


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------


@postgres_only
def test_change_set_concurrent_applies_of_a_multi_link_set_make_it_once(people, new_flow):
    promotion = request(people, new_flow, links=[(account("Contact Centre"), 6)])
    promotion_approve(promotion=promotion, actor=people["approver"])
    outcomes = run_together(
        8, lambda i: promotion_apply(promotion=promotion, actor=people["approver"])
    )
    assert [o.error for o in outcomes] == [None] * 8
    assert PaymentFlow.objects.filter(number=424).count() == 1
    assert AccountConfiguration.objects.filter(flow__number=424).count() == 2
    assert AuditEvent.objects.filter(action="promotion.applied").count() == 1
    assert audit_verify_chain() is None


@postgres_only
def test_change_set_concurrent_sets_sharing_accounts_finish_without_deadlock(people):
    """Sets from four flows, each linking both accounts and switching off a shared link."""
    staging = PciEnvironment.objects.get(stage=Stage.STAGING)
    shared = link_of("Production", 2)
    promotions = []
    for index in range(4):
        flow = PaymentFlow.objects.create(environment=staging, number=800 + index, name=f"F{index}")
        promotion = request(
            people,
            flow,
            production_flow_number=900 + index,
            configuration_id=30 + index,
            links=[(account("Contact Centre"), 40 + index)],
            deactivate=[shared] if index == 0 else [],
        )
        promotion_approve(promotion=promotion, actor=people["approver"])
        promotions.append(promotion)
    outcomes = run_together(
        4, lambda i: promotion_apply(promotion=promotions[i], actor=people["approver"])
    )
    assert [o.error for o in outcomes] == [None] * 4
    assert AccountConfiguration.objects.filter(flow__number__gte=900).count() == 8
    shared.refresh_from_db()
    assert not shared.is_active
    assert audit_verify_chain() is None


def test_change_set_page_shows_a_link_only_set_as_a_link_not_a_new_flow(
    client, people, promoted_699
):
    """The approver's "After apply" lists the set's changes: flow 424 is linked, not created."""
    promotion = request(
        people,
        promoted_699.source_flow,
        target_account=account("Contact Centre"),
        configuration_id=6,
    )
    client.force_login(people["approver"])
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    after_apply = page[page.index("After apply") : page.index("Sessions on it use")]
    assert "id <strong>6</strong> → flow 424 on Contact Centre" in after_apply
    assert "linked" in after_apply
    assert "promoted from" not in after_apply and ">new<" not in after_apply
