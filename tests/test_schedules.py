from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from payments.models import (
    AuditEvent,
    ChangeFreeze,
    Notification,
    PromotionSchedule,
    PromotionState,
)
from payments.services import promotion_reject
from payments.services.notifications import SCHEDULE_ORIGIN
from payments.services.schedules import promotion_schedule, schedules_apply_due
from tests.promotion_support import request as request_promotion
from tests.worker_support import (
    approve,
    keep_test_connection,
    no_credential_checks,
)

pytestmark = pytest.mark.django_db
__all__ = ["keep_test_connection", "no_credential_checks"]


@pytest.fixture
def approved(people, new_flow):
    return approve(people, request_promotion(people, new_flow))


def schedule_in(people, promotion, minutes=30):
    return promotion_schedule(
        promotion=promotion,
        apply_at=timezone.now() + timedelta(minutes=minutes),
        actor=people["approver"],
    )


def test_promotion_schedule_is_audited_and_tells_requester_and_approver(people, approved):
    schedule = schedule_in(people, approved)

    event = AuditEvent.objects.get(action="promotion.scheduled")
    assert event.actor == people["approver"]
    assert event.after["scheduled_by"] == "approver"
    assert schedule.apply_at > timezone.now()
    notification = Notification.objects.get(action="promotion.scheduled")
    assert {d.recipient.username for d in notification.deliveries.all()} == {
        "registry",
        "approver",
    }


def test_promotion_schedule_refuses_an_unapproved_promotion(people, new_flow):
    requested = request_promotion(people, new_flow)

    with pytest.raises(ValidationError, match="only an approved promotion can be scheduled"):
        schedule_in(people, requested)


def test_promotion_schedule_refuses_a_time_in_the_past(people, approved):
    with pytest.raises(ValidationError, match="in the future"):
        schedule_in(people, approved, minutes=-5)


def test_promotion_schedule_refuses_someone_who_may_not_apply(people, approved):
    with pytest.raises(PermissionDenied):
        promotion_schedule(
            promotion=approved,
            apply_at=timezone.now() + timedelta(hours=1),
            actor=people["registry"],
        )
    assert not PromotionSchedule.objects.exists()
    assert AuditEvent.objects.get(action="promotion.scheduled").outcome == "denied"


def test_promotion_schedule_refuses_a_time_inside_a_freeze(people, approved):
    now = timezone.now()
    ChangeFreeze.objects.create(
        starts_at=now + timedelta(minutes=10), ends_at=now + timedelta(hours=2), reason="Peak"
    )

    with pytest.raises(ValidationError, match="change freeze then"):
        schedule_in(people, approved, minutes=30)


def test_worker_applies_a_due_schedule_and_the_audit_names_everyone(
    people, approved, no_credential_checks
):
    schedule = schedule_in(people, approved)
    PromotionSchedule.objects.filter(pk=schedule.pk).update(
        apply_at=timezone.now() - timedelta(seconds=1)
    )

    call_command("registry_worker", "--once")

    approved.refresh_from_db()
    assert approved.state == PromotionState.APPLIED
    applied = AuditEvent.objects.get(action="promotion.applied", outcome="success")
    assert applied.actor == people["approver"]  # who scheduled it
    assert applied.origin.startswith(SCHEDULE_ORIGIN)
    by_schedule = AuditEvent.objects.get(action="promotion.schedule_applied")
    assert by_schedule.actor is None  # the worker
    assert "scheduled by approver" in by_schedule.reason
    assert "approved by approver" in by_schedule.reason
    assert Notification.objects.filter(action="promotion.schedule_applied").exists()
    assert not Notification.objects.filter(action="promotion.applied").exists()
    schedule.refresh_from_db()
    assert schedule.applied


def test_a_schedule_not_yet_due_is_left_alone(people, approved):
    schedule_in(people, approved, minutes=30)

    assert schedules_apply_due() == []

    approved.refresh_from_db()
    assert approved.state == PromotionState.APPROVED


def test_a_rejected_promotion_is_not_applied_and_people_are_told_why(people, approved):
    schedule = schedule_in(people, approved)
    promotion_reject(promotion=approved, actor=people["approver"], reason="Wrong flow")

    schedules_apply_due(now=timezone.now() + timedelta(hours=1))

    approved.refresh_from_db()
    assert approved.state == PromotionState.REJECTED
    schedule.refresh_from_db()
    assert not schedule.applied
    assert "no longer approved" in schedule.outcome
    held = Notification.objects.get(action="promotion.schedule_held")
    assert "no longer approved" in held.body
    assert {d.recipient.username for d in held.deliveries.all()} == {"registry", "approver"}


def test_a_freeze_holds_a_due_schedule_with_its_reason(people, approved):
    schedule = schedule_in(people, approved)
    now = timezone.now()
    ChangeFreeze.objects.create(
        starts_at=now, ends_at=now + timedelta(days=2), reason="Black Friday peak"
    )

    schedules_apply_due(now=now + timedelta(hours=1))

    approved.refresh_from_db()
    assert approved.state == PromotionState.APPROVED
    schedule.refresh_from_db()
    assert "Black Friday peak" in schedule.outcome
    assert "change freeze until" in schedule.outcome
    assert "Black Friday peak" in Notification.objects.get(action="promotion.schedule_held").body


def test_a_schedule_is_claimed_once(people, approved):
    schedule_in(people, approved)
    later = timezone.now() + timedelta(hours=1)

    first = schedules_apply_due(now=later)
    second = schedules_apply_due(now=later)

    assert len(first) == 1
    assert second == []


def test_schedule_form_on_the_detail_page_schedules_it(client, people, approved):
    client.force_login(people["approver"])
    page = client.get(f"/promotions/{approved.pk}/").content.decode()
    assert 'name="apply_at"' in page
    when = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(f"/promotions/{approved.pk}/schedule/", {"apply_at": when}, follow=True)

    assert PromotionSchedule.objects.get(promotion=approved).scheduled_by == people["approver"]
    assert "is scheduled for" in response.content.decode()
    assert "Remove schedule" in response.content.decode()


def test_schedule_form_is_not_offered_to_someone_who_may_not_apply(client, people, approved):
    client.force_login(people["registry"])

    page = client.get(f"/promotions/{approved.pk}/").content.decode()

    assert 'name="apply_at"' not in page
