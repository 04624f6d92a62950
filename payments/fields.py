"""A strict encrypted field: wraps django-encrypted-model-fields, fixing its known traps."""

from django.core.exceptions import FieldError, ValidationError
from encrypted_model_fields.fields import EncryptedCharField

from payments.crypto import SecretDecryptionError, decrypt, encrypt
from payments.redaction import REDACTED, is_placeholder


def validate_not_placeholder(value: str) -> None:
    """Refuse the placeholder exports print in place of a secret (it would be stored as one)."""
    if is_placeholder(value):
        raise ValidationError(
            f"“{REDACTED}” is the placeholder exports show instead of a secret, not a secret: "
            "type the real client secret, or leave the field blank to keep the stored one."
        )


class EncryptedSecretField(EncryptedCharField):
    """A write-mostly secret, Fernet-encrypted at rest.

    Unlike the library field, a value that does not decrypt raises instead of coming back as
    ciphertext, SQL expressions (bulk_update) are not encrypted as text, lookups that cannot
    work on randomised ciphertext are refused, and serialisers see a placeholder.
    """

    default_validators = [validate_not_placeholder]

    def to_python(self, value):
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            return decrypt(value)
        except SecretDecryptionError as exc:
            raise SecretDecryptionError(
                f"{self.model._meta.label}.{self.name} does not decrypt with any configured "
                "FIELD_ENCRYPTION_KEY: add the key it was written with (see the rotation runbook)."
            ) from exc

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "resolve_expression"):
            return value
        if value is None or value == "":
            return None
        if is_placeholder(value):
            raise ValueError("Refusing to store the redaction placeholder as a secret.")
        return encrypt(str(value))

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.name} is encrypted with a randomised cipher: '{lookup_name}' lookups "
                "cannot match. Look rows up by client_id instead."
            )
        return super().get_lookup(lookup_name)

    def value_to_string(self, obj):
        return REDACTED
