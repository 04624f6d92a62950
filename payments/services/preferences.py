"""A person's own notification preferences."""

from django.db import transaction

from payments.models import NotificationPreference


def notification_preference_save(*, user, email_enabled: bool) -> NotificationPreference:
    """Turn the person's e-mails on or off (their own choice: not audited)."""
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        preference.email_enabled = email_enabled
        preference.full_clean()
        preference.save()
    return preference
