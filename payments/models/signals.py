"""Signals the models send for the services to act on (models never import a service)."""

from django.dispatch import Signal

# Sent inside the save's transaction when a credential's stored secret changes; payments.services
# .registry records it in the audit trail. Arguments: credential, old_fingerprint, context.
secret_rotated = Signal()
