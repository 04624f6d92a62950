"""Notifications through an outbox: rows written with the audited action, sent later by the worker.

The audit trail calls notifications_for_event() inside the action's own transaction, so a
notification exists exactly when its action committed. The worker (payments/tasks.py) sends the
deliveries afterwards; a channel that fails is retried with backoff and never touches the action.
"""

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from payments.models import (
    AuditEvent,
    AuditOutcome,
    Delivery,
    DeliveryChannel,
    DeliveryState,
    Notification,
    NotificationPreference,
    Promotion,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

REGISTRY_ADMINS = "Registry admins"

# What happened, for each audited action that tells someone (the subject's verb).
PROMOTION_TO_APPROVERS = {"promotion.requested": "requested", "promotion.edited": "edited"}
PROMOTION_TO_PEOPLE = {
    "promotion.approved": "approved",
    "promotion.rejected": "rejected",
    "promotion.applied": "applied",
    "promotion.rolled_back": "rolled back",
    "promotion.scheduled": "scheduled",
    "promotion.schedule_applied": "applied by schedule",
    "promotion.schedule_held": "not applied by its schedule",
    # Verified promotions (services/promotions/verify.py).
    "promotion.verified": "verified with VCC",
    "promotion.verification_failed": "refused by VCC after apply (its new links are off)",
}
TO_REGISTRY_ADMINS = {
    "credential.verified": "credential check failed",
    "credential.refused": "credentials refused by VCC",
    "webhook.refused": "webhook refused",
    "link.probe_failed": "link probe failed",
}
# Every `<model>.break_glass` event (services/production.py) tells the registry admins.
BREAK_GLASS_SUFFIX = ".break_glass"
BREAK_GLASS_VERB = "break-glass change"
# The worker applies a scheduled promotion through promotion_apply with this origin; its own
# "applied by schedule" event is the one that tells people, not the inner apply.
SCHEDULE_ORIGIN = "registry_worker schedule"


@dataclass
class Message:
    subject: str
    body: str
    link: str


# --- Writing the outbox (inside the action's transaction) -----------------------------


def notifications_for_event(event: AuditEvent) -> Notification | None:
    """Write the notification and deliveries an audited event calls for (None: none)."""
    if not _may_notify(event):
        return None
    try:
        # A savepoint: a mistake here is logged and loses one notification, never the action.
        with transaction.atomic():
            return _write_outbox(event)
    except Exception:
        logger.exception("Notification for audit event %s (%s) not written", event.pk, event.action)
        return None


def _may_notify(event: AuditEvent) -> bool:
    action, outcome = event.action, event.outcome
    if action in PROMOTION_TO_APPROVERS or action in PROMOTION_TO_PEOPLE:
        if action == "promotion.applied" and event.origin.startswith(SCHEDULE_ORIGIN):
            return False
        if action == "promotion.applied" and outcome == AuditOutcome.FAILURE:
            return True  # refused: a freeze, or a problem found at the last moment
        if action == "promotion.verification_failed":
            return outcome == AuditOutcome.FAILURE  # VCC refused a new link (not a denied retry)
        return outcome == AuditOutcome.SUCCESS or action == "promotion.schedule_held"
    if action.endswith(BREAK_GLASS_SUFFIX):
        return outcome == AuditOutcome.SUCCESS
    if action in TO_REGISTRY_ADMINS:
        return outcome != AuditOutcome.SUCCESS
    return False


def _write_outbox(event: AuditEvent) -> Notification | None:
    recipients, message = _recipients_and_message(event)
    webhooks = [
        hook for hook in WebhookEndpoint.objects.filter(is_active=True) if hook.wants(event.action)
    ]
    if not recipients and not webhooks:
        return None
    notification = Notification.objects.create(
        event=event,
        action=event.action,
        subject=message.subject[:200],
        body=message.body,
        link=message.link,
    )
    now = timezone.now()
    email_off = set(
        NotificationPreference.objects.filter(user__in=recipients, email_enabled=False).values_list(
            "user_id", flat=True
        )
    )
    rows = []
    for person in recipients:
        if person.pk in email_off:
            continue
        row = Delivery(
            notification=notification,
            channel=DeliveryChannel.EMAIL,
            recipient=person,
            next_attempt_at=now,
        )
        if not person.email:
            row.state = DeliveryState.SKIPPED
            row.last_error = f"{person.get_username()} has no e-mail address."
        rows.append(row)
    rows += [
        Delivery(
            notification=notification,
            channel=DeliveryChannel.WEBHOOK,
            webhook=hook,
            next_attempt_at=now,
        )
        for hook in webhooks
    ]
    Delivery.objects.bulk_create(rows)
    if any(row.state == DeliveryState.PENDING for row in rows):
        transaction.on_commit(_enqueue_send, robust=True)
    return notification


def _enqueue_send() -> None:
    # The worker also sweeps on a schedule: a lost enqueue only delays the message.
    from payments.tasks import deliveries_send

    deliveries_send.enqueue()


def _recipients_and_message(event: AuditEvent) -> tuple[list, Message]:
    who = event.actor_name or "the registry worker"
    action = event.action
    if action.startswith("promotion."):
        promotion = (
            Promotion.objects.select_related(
                "requested_by", "approved_by", "target_account", "source_flow"
            )
            .filter(pk=event.object_id)
            .first()
        )
        if promotion is None:
            return [], Message("", "", "")
        link = site_url(reverse("payments:promotion", args=[promotion.pk]))
        what = (
            f"Promotion #{promotion.pk} (flow {promotion.source_flow.number} to "
            f"{promotion.target_account.name})"
        )
        if action in PROMOTION_TO_APPROVERS:
            verb = PROMOTION_TO_APPROVERS[action]
            recipients = [p for p in approvers() if p.pk != promotion.requested_by_id]
            todo = "It waits for your approval: review it and approve or reject it."
            why = promotion.reason
        else:
            verb = PROMOTION_TO_PEOPLE[action]
            if action == "promotion.applied" and event.outcome == AuditOutcome.FAILURE:
                verb = "could not be applied"
            recipients = _distinct([promotion.requested_by, promotion.approved_by])
            todo = "Open it to see its state and what to do next."
            why = event.reason or promotion.reason
        subject = f"{what} {verb} by {who}" if event.actor_name else f"{what} {verb}"
        body = _body(
            happened=f"{what} was {verb}." if not verb.startswith("could") else f"{what} {verb}.",
            who=who,
            why=why,
            todo=todo,
            link=link,
        )
        return recipients, Message(subject, body, link)
    break_glass = action.endswith(BREAK_GLASS_SUFFIX)
    verb = BREAK_GLASS_VERB if break_glass else TO_REGISTRY_ADMINS[action]
    link = site_url(_admin_link(event))
    subject = f"{verb.capitalize()}: {event.object_repr}"
    todo = "Open it in the admin, fix the credential (or its secret), then check it again."
    if break_glass:
        todo = "Production was changed without a promotion: review the change and its reason."
    elif action == "webhook.refused":
        todo = "Check VCC's webhook token (VCC_WEBHOOK_TOKEN) and where the calls come from."
    body = _body(
        happened=f"{verb.capitalize()}: {event.object_repr}.",
        who=who,
        why=event.reason,
        todo=todo,
        link=link,
    )
    return registry_admins(), Message(subject, body, link)


def _body(*, happened: str, who: str, why: str, todo: str, link: str) -> str:
    lines = [happened, "", f"Who: {who}", f"Why: {why or '(no reason given)'}", "", todo, link]
    lines += ["", "You get this because of your role in the VCC Registry."]
    lines += [f"Turn these e-mails off: {site_url(reverse('payments:notification_settings'))}"]
    return "\n".join(lines)


def _admin_link(event: AuditEvent) -> str:
    if event.object_type and event.object_id:
        try:
            return reverse(f"admin:payments_{event.object_type}_change", args=[event.object_id])
        except Exception:
            pass
    return reverse("payments:audit")


def site_url(path: str) -> str:
    """Return the absolute address of a path on this registry (SITE_URL)."""
    return f"{settings.SITE_URL}{path}"


def _distinct(people) -> list:
    seen, result = set(), []
    for person in people:
        if person is not None and person.pk not in seen and person.is_active:
            seen.add(person.pk)
            result.append(person)
    return result


def _people_with_permission(codename: str):
    User = get_user_model()
    permission = Permission.objects.filter(
        content_type__app_label="payments", codename=codename
    ).first()
    holders = Q(is_superuser=True)
    if permission is not None:
        holders |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    return User.objects.filter(holders, is_active=True).distinct().order_by("pk")


def approvers() -> list:
    """The active people who may approve promotions."""
    return list(_people_with_permission("approve_promotion"))


def registry_admins() -> list:
    """The active registry admins (the group) and superusers."""
    User = get_user_model()
    people = User.objects.filter(Q(groups__name=REGISTRY_ADMINS) | Q(is_superuser=True))
    return list(people.filter(is_active=True).distinct().order_by("pk"))


def webhook_endpoint_save(
    *, endpoint: WebhookEndpoint, new_secret: str | None, actor, origin: str = ""
) -> WebhookEndpoint:
    """Create or change an outgoing webhook; the audit row holds neither secret nor URL path."""
    from payments.services.audit import audit_record

    created = endpoint.pk is None
    if new_secret:
        endpoint.secret = new_secret
    endpoint.full_clean()
    with transaction.atomic():
        endpoint.save()
        audit_record(
            action="webhook_endpoint.created" if created else "webhook_endpoint.changed",
            actor=actor,
            origin=origin,
            obj=endpoint,
            after={
                "name": endpoint.name,
                "host": urlsplit(endpoint.url).hostname or "",
                "format": endpoint.format,
                "actions": endpoint.actions,
                "is_active": endpoint.is_active,
                "secret_changed": bool(new_secret),
            },
        )
    return endpoint
