"""Delivering the outbox: the worker claims due deliveries and sends e-mails and webhooks.

A delivery is claimed under a row lock that skips rows other workers hold, and leased, so two
workers never send the same one; a failed send is retried with backoff, then given up.
"""

import hashlib
import hmac
import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from payments.models import (
    Delivery,
    DeliveryChannel,
    DeliveryState,
    NotificationPreference,
    WebhookFormat,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Registry-Signature"
DELIVERY_HEADER = "X-Registry-Delivery"
# A claimed delivery is not claimed again for this long: far longer than one send may take.
CLAIM_LEASE = timedelta(minutes=5)


def deliveries_send_due(*, now=None, limit: int = 200) -> int:
    """Send the due deliveries, each claimed by one worker only; return how many were tried."""
    tried = 0
    while tried < limit:
        delivery = _claim_next(now or timezone.now())
        if delivery is None:
            break
        tried += 1
        delivery_send(delivery=delivery)
    return tried


def _claim_next(now) -> Delivery | None:
    """Claim one due delivery: lock it (skipping rows other workers hold) and lease it."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        delivery.next_attempt_at = delivery.last_attempt_at + CLAIM_LEASE
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    return delivery


def delivery_send(*, delivery: Delivery) -> bool:
    """Send one claimed delivery and record the result: sent, retried later, or given up."""
    delivery = Delivery.objects.select_related("notification", "recipient", "webhook").get(
        pk=delivery.pk
    )
    problem = ""
    try:
        if delivery.channel == DeliveryChannel.EMAIL:
            skip = _email_skip_reason(delivery)
            if skip:
                return _finish(delivery, DeliveryState.SKIPPED, skip)
            send_email(delivery)
        else:
            if not delivery.webhook.is_active:
                return _finish(delivery, DeliveryState.SKIPPED, "The webhook was turned off.")
            send_webhook(delivery)
    except Exception as exc:
        problem = _describe(exc, delivery)
        logger.warning(
            "Delivery %s failed (attempt %s): %s", delivery.pk, delivery.attempts, problem
        )
    if not problem:
        return _finish(delivery, DeliveryState.SENT, "")
    if delivery.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        return _finish(delivery, DeliveryState.FAILED, problem)
    delay = min(
        settings.NOTIFICATION_BACKOFF_BASE * 2 ** (delivery.attempts - 1),
        settings.NOTIFICATION_BACKOFF_CAP,
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        last_error=problem[:1000], next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    return False


def delivery_retry(*, delivery: Delivery) -> None:
    """Put a failed or pending delivery back in the queue, due now (an admin's "retry now")."""
    Delivery.objects.filter(
        pk=delivery.pk, state__in=[DeliveryState.FAILED, DeliveryState.PENDING]
    ).update(state=DeliveryState.PENDING, next_attempt_at=timezone.now())


def _finish(delivery: Delivery, state: str, error: str) -> bool:
    Delivery.objects.filter(pk=delivery.pk).update(
        state=state,
        last_error=error[:1000],
        sent_at=timezone.now() if state == DeliveryState.SENT else None,
    )
    return state == DeliveryState.SENT


def _email_skip_reason(delivery: Delivery) -> str:
    person = delivery.recipient
    if not person.is_active:
        return f"{person.get_username()} is inactive."
    if not person.email:
        return f"{person.get_username()} has no e-mail address."
    preference = NotificationPreference.objects.filter(user=person).first()
    if preference is not None and not preference.email_enabled:
        return f"{person.get_username()} turned e-mails off."
    return ""


def send_email(delivery: Delivery) -> None:
    """Send one e-mail delivery through the configured EMAIL_URL backend."""
    notification = delivery.notification
    message = EmailMessage(
        subject=f"[VCC Registry] {notification.subject}",
        body=notification.body,
        to=[delivery.recipient.email],
        headers={DELIVERY_HEADER: str(delivery.pk)},
    )
    message.send(fail_silently=False)


def webhook_payload(delivery: Delivery) -> dict:
    """The JSON a webhook receives: Slack's {"text"} or the generic, documented object."""
    notification = delivery.notification
    if delivery.webhook.format == WebhookFormat.SLACK:
        return {"text": f"{notification.subject}\n{notification.link}"}
    event = notification.event
    return {
        "delivery": delivery.pk,
        "notification": notification.pk,
        "action": notification.action,
        "subject": notification.subject,
        "text": notification.body,
        "link": notification.link,
        "actor": event.actor_name if event else "",
        "reason": event.reason if event else "",
        "object_type": event.object_type if event else "",
        "object_id": event.object_id if event else "",
        "created_at": notification.created_at.isoformat(),
    }


def webhook_signature(secret: str, body: bytes) -> str:
    """Return the X-Registry-Signature value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(delivery: Delivery) -> None:
    """POST one webhook delivery; anything but a 2xx answer is a failure to retry."""
    hook = delivery.webhook
    body = json.dumps(webhook_payload(delivery), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery.pk)}
    if hook.format == WebhookFormat.JSON and hook.secret:
        headers[SIGNATURE_HEADER] = webhook_signature(hook.secret, body)
    response = requests.post(
        hook.url,
        data=body,
        headers=headers,
        timeout=settings.NOTIFICATION_WEBHOOK_TIMEOUT,
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise WebhookRefused(f"The receiver answered HTTP {response.status_code}.")


class WebhookRefused(Exception):
    pass


def _describe(exc: Exception, delivery: Delivery) -> str:
    """A failure as the admin sees it; a webhook's address is left out (it may hold a token)."""
    if isinstance(exc, requests.RequestException):
        # Its message quotes the URL's path, which for Slack is the token itself.
        host = urlsplit(delivery.webhook.url).hostname if delivery.webhook else ""
        return f"{type(exc).__name__}: the request to {host} failed (no answer, or it timed out)."
    text = f"{type(exc).__name__}: {exc}"
    if delivery.webhook is not None and delivery.webhook.url:
        text = text.replace(delivery.webhook.url, "<webhook URL>")
        if delivery.webhook.secret:
            text = text.replace(delivery.webhook.secret, "<secret>")
    return text
