from django.apps import AppConfig
from django.apps import apps as global_apps
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate


def _reset_crypter_on_key_change(*, setting, **kwargs):
    if setting == "FIELD_ENCRYPTION_KEY":
        from payments.crypto import reset_crypter

        reset_crypter()


def _ensure_roles(*, apps=None, **kwargs):
    from payments.roles import roles_ensure

    roles_ensure(apps or global_apps)


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "VCC registry"

    def ready(self):
        setting_changed.connect(_reset_crypter_on_key_change)
        # Also after a test database flush, which empties the groups the migration made.
        post_migrate.connect(_ensure_roles, sender=self)
        # Registers the stored-secrets system check, the login audit receivers and the
        # secret-rotation audit receiver.
        from payments import auth, checks  # noqa: F401
        from payments.services import registry  # noqa: F401
