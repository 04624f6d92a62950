import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from smtplib import SMTPException
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from payments.models import (
    ApiCredential,
    Delivery,
    DeliveryChannel,
    DeliveryState,
    Notification,
    PromotionState,
    WebhookEndpoint,
    WebhookFormat,
)
from payments.services.credentials import credential_refused
from payments.services.deliveries import SIGNATURE_HEADER, deliveries_send_due, delivery_retry
from payments.services.preferences import notification_preference_save
from tests.promotion_support import REASON
from tests.promotion_support import request as request_promotion
from tests.worker_support import (
    approve,
    keep_test_connection,
    no_credential_checks,
)

pytestmark = pytest.mark.django_db
__all__ = ["keep_test_connection", "no_credential_checks"]


def email_recipients(notification) -> set[str]:
    deliveries = notification.deliveries.filter(channel=DeliveryChannel.EMAIL)
    return {delivery.recipient.username for delivery in deliveries}


def test_promotion_requested_tells_the_approvers_not_the_requester(people, new_flow):
    promotion = request_promotion(people, new_flow)

    notification = Notification.objects.get(action="promotion.requested")
    assert email_recipients(notification) == {"approver", "admin"}
    assert "registry" not in email_recipients(notification)
    assert f"Promotion #{promotion.pk}" in notification.subject
    assert "by registry" in notification.subject


def test_promotion_approved_tells_the_requester_and_the_approver(people, new_flow):
    approve(people, request_promotion(people, new_flow))

    notification = Notification.objects.get(action="promotion.approved")
    assert email_recipients(notification) == {"registry", "approver"}


def test_outbox_rows_roll_back_with_the_action(people, new_flow):
    with pytest.raises(RuntimeError), transaction.atomic():
        request_promotion(people, new_flow)
        assert Notification.objects.filter(action="promotion.requested").exists()
        raise RuntimeError("the action fails after its audit row")

    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()


def test_worker_sends_the_email_with_what_who_why_and_the_deep_link(
    people, new_flow, no_credential_checks
):
    with override_settings(SITE_URL="https://registry.example.com"):
        promotion = approve(people, request_promotion(people, new_flow))
    mail.outbox.clear()

    call_command("registry_worker", "--once")

    to_registry = [m for m in mail.outbox if m.to == ["registry@registry.example"]]
    assert len(to_registry) == 1
    message = to_registry[0]
    assert message.subject == (
        f"[VCC Registry] Promotion #{promotion.pk} (flow 697 to Production) approved by approver"
    )
    assert f"Promotion #{promotion.pk} (flow 697 to Production) was approved." in message.body
    assert "Who: approver" in message.body
    assert f"Why: {REASON}" in message.body
    assert f"https://registry.example.com/promotions/{promotion.pk}/" in message.body
    assert Delivery.objects.filter(state=DeliveryState.PENDING).count() == 0


def test_failing_channel_is_retried_with_backoff_and_the_action_still_commits(people, new_flow):
    requested = request_promotion(people, new_flow)
    with mock.patch(
        "payments.services.deliveries.EmailMessage.send",
        side_effect=SMTPException("mail server down"),
    ):
        promotion = approve(people, requested)
        before = timezone.now()
        deliveries_send_due()

    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPROVED
    delivery = Delivery.objects.get(
        notification__action="promotion.approved", recipient=people["registry"]
    )
    assert delivery.state == DeliveryState.PENDING
    assert delivery.attempts == 1
    assert "mail server down" in delivery.last_error
    # The first retry waits NOTIFICATION_BACKOFF_BASE (60 s), the next twice that.
    assert before + timedelta(seconds=59) < delivery.next_attempt_at
    assert delivery.next_attempt_at < before + timedelta(seconds=70)
    mail.outbox.clear()
    assert deliveries_send_due() == 0  # not due yet

    deliveries_send_due(now=timezone.now() + timedelta(seconds=61))

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT
    assert delivery.attempts == 2
    assert delivery.last_error == ""
    assert "registry@registry.example" in [to for message in mail.outbox for to in message.to]


@override_settings(NOTIFICATION_MAX_ATTEMPTS=2, NOTIFICATION_BACKOFF_BASE=0)
def test_delivery_gives_up_after_max_attempts_and_an_admin_can_retry_it(people, new_flow):
    with mock.patch(
        "payments.services.deliveries.EmailMessage.send",
        side_effect=SMTPException("mailbox unavailable"),
    ):
        request_promotion(people, new_flow)
        deliveries_send_due()
        deliveries_send_due()
    delivery = Delivery.objects.filter(notification__action="promotion.requested").first()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts == 2

    delivery_retry(delivery=delivery)
    deliveries_send_due()

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT


def test_a_person_who_turned_emails_off_gets_none(people, new_flow):
    notification_preference_save(user=people["approver"], email_enabled=False)

    request_promotion(people, new_flow)

    notification = Notification.objects.get(action="promotion.requested")
    assert email_recipients(notification) == {"admin"}


def test_turning_emails_off_later_skips_the_pending_delivery(people, new_flow):
    request_promotion(people, new_flow)
    notification_preference_save(user=people["approver"], email_enabled=False)
    mail.outbox.clear()

    deliveries_send_due()

    delivery = Delivery.objects.get(recipient=people["approver"])
    assert delivery.state == DeliveryState.SKIPPED
    assert "turned e-mails off" in delivery.last_error
    assert all(message.to != ["approver@registry.example"] for message in mail.outbox)


def test_a_failed_credential_check_tells_the_registry_admins(people, demo):
    credential = ApiCredential.objects.filter(account__name="Production").first()

    problem = "VCC answered 401: invalid_client"
    credential_refused(credential=credential, problem=problem, actor=None)

    notification = Notification.objects.get(action="credential.refused")
    assert email_recipients(notification) == {"registry", "admin"}
    assert "invalid_client" in notification.body
    assert f"/admin/payments/apicredential/{credential.pk}/change/" in notification.link


def test_a_successful_audited_step_without_readers_writes_nothing(people):
    from payments.services.audit import audit_record

    audit_record(action="auth.login", actor=people["agent"], obj=people["agent"])

    assert not Notification.objects.exists()


class Receiver(BaseHTTPRequestHandler):
    received: list

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("Handler", (Receiver,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_slack_webhook_gets_text_with_the_link(people, new_flow, receiver):
    server, handler = receiver
    WebhookEndpoint.objects.create(
        name="Slack #payments",
        url=f"http://127.0.0.1:{server.server_port}/services/T0/B0/token",
        format=WebhookFormat.SLACK,
    )
    promotion = request_promotion(people, new_flow)

    deliveries_send_due()

    assert len(handler.received) == 1
    payload = json.loads(handler.received[0][1])
    assert list(payload) == ["text"]
    assert f"Promotion #{promotion.pk}" in payload["text"]
    assert f"/promotions/{promotion.pk}/" in payload["text"]


def test_generic_webhook_is_signed_with_hmac_sha256(people, new_flow, receiver):
    server, handler = receiver
    WebhookEndpoint.objects.create(
        name="Ops receiver",
        url=f"http://127.0.0.1:{server.server_port}/hook",
        format=WebhookFormat.JSON,
        secret="shared-webhook-key",
        actions="promotion.requested",
    )
    request_promotion(people, new_flow)

    deliveries_send_due()

    headers, body = handler.received[0]
    expected = hmac.new(b"shared-webhook-key", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["action"] == "promotion.requested"
    assert payload["actor"] == "registry"
    assert payload["reason"] == REASON


def test_webhook_failure_is_recorded_without_the_url_token(people, new_flow, receiver):
    server, handler = receiver
    handler.status = 500
    hook = WebhookEndpoint.objects.create(
        name="Slack",
        url=f"http://127.0.0.1:{server.server_port}/T0/B0/s3cr3t-token",
        format=WebhookFormat.SLACK,
    )
    request_promotion(people, new_flow)
    server.shutdown()  # now nothing answers at all
    server.server_close()

    deliveries_send_due()

    delivery = Delivery.objects.get(webhook=hook)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.last_error
    assert "s3cr3t-token" not in delivery.last_error


def test_admin_shows_each_deliverys_state_and_last_error(admin_client, people, new_flow):
    with mock.patch(
        "payments.services.deliveries.EmailMessage.send",
        side_effect=SMTPException("relay refused"),
    ):
        request_promotion(people, new_flow)
        deliveries_send_due()

    page = admin_client.get("/admin/payments/delivery/").content.decode()

    assert "relay refused" in page
    assert "Pending" in page
