"""A refused VCC webhook is audited and reaches the registry admins, at most once a minute per
origin (payments/services/webhook_audit.py)."""

import time
from unittest import mock

import pytest
from django.core.cache import cache

from payments.models import AuditEvent, AuditOutcome, DeliveryChannel, Notification
from payments.services.notifications import TO_REGISTRY_ADMINS
from payments.services.webhook_audit import ACTION, WINDOW_SECONDS, webhook_refusal_record

pytestmark = pytest.mark.django_db

REASON = "Missing or wrong bearer token."


@pytest.fixture(autouse=True)
def _own_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    cache.clear()


def refused_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=ACTION).order_by("pk"))


def test_webhook_refusal_record_writes_a_denied_event_with_reason_and_origin():
    event = webhook_refusal_record(reason=REASON, origin="203.0.113.9 req-1")
    assert refused_events() == [event]
    assert event.outcome == AuditOutcome.DENIED
    assert (event.origin, event.reason, event.object_type) == (
        "203.0.113.9 req-1",
        REASON,
        "webhook",
    )
    assert event.actor is None


def test_webhook_refusal_record_flood_from_one_origin_writes_one_event_a_minute():
    for n in range(50):
        webhook_refusal_record(reason=REASON, origin=f"203.0.113.9 req-{n}")
    assert len(refused_events()) == 1
    # The cache's clock a minute on: the window has closed.
    later = time.time() + WINDOW_SECONDS + 1
    with mock.patch("django.core.cache.backends.locmem.time.time", return_value=later):
        assert webhook_refusal_record(reason=REASON, origin="203.0.113.9 req-late") is not None
    assert len(refused_events()) == 2


def test_webhook_refusal_record_each_origin_has_its_own_window():
    first = webhook_refusal_record(reason=REASON, origin="203.0.113.9")
    second = webhook_refusal_record(reason=REASON, origin="198.51.100.7")
    again = webhook_refusal_record(reason=REASON, origin="203.0.113.9")
    assert first is not None and second is not None and again is None
    assert [e.origin for e in refused_events()] == ["203.0.113.9", "198.51.100.7"]


def test_webhook_refused_is_mapped_to_the_registry_admins():
    assert "webhook.refused" in TO_REGISTRY_ADMINS


def test_webhook_refusal_record_tells_the_registry_admins(people):
    event = webhook_refusal_record(reason=REASON, origin="203.0.113.9")
    notification = Notification.objects.get(event=event)
    deliveries = notification.deliveries.filter(channel=DeliveryChannel.EMAIL)
    assert {d.recipient.username for d in deliveries} == {"registry", "admin"}
    assert REASON in notification.body
    assert "VCC_WEBHOOK_TOKEN" in notification.body
    assert notification.subject.startswith("Webhook refused")


def test_webhook_refused_at_the_receiver_is_audited_once_per_sender(client, settings):
    """The receiver records its refusals: a wrong token twice from one sender is one event."""
    settings.VCC_WEBHOOK_TOKEN = "the-right-token-0123456789"
    for _ in range(2):
        response = client.post(
            "/vcc/webhook/",
            data="{}",
            content_type="application/json",
            headers={"Authorization": "Bearer wrong"},
        )
        assert response.status_code == 401
    [event] = refused_events()
    assert event.outcome == AuditOutcome.DENIED
    assert "Missing or wrong bearer token." in event.reason
    assert "wrong" not in event.reason.replace("wrong bearer", "")
