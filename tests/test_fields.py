import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.test import override_settings

from payments.crypto import SecretDecryptionError, secret_fingerprint
from payments.models import ApiCredential
from payments.redaction import REDACTED
from tests.conftest import raw_column
from tests.factories import ApiCredentialFactory

pytestmark = pytest.mark.django_db

CANARY = "canary-7c1f0e-do-not-leak-0192"
OTHER_KEY = Fernet.generate_key().decode()


@pytest.fixture
def credential():
    return ApiCredentialFactory(secret=CANARY)


def test_secret_round_trips_and_is_ciphertext_at_rest(credential):
    """E1"""
    stored = raw_column("payments_apicredential", "client_secret", credential.pk)
    assert stored.startswith("gAAAA")
    assert CANARY not in stored
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == CANARY


def test_wrong_key_raises_instead_of_returning_ciphertext(credential, settings):
    """E2"""
    settings.FIELD_ENCRYPTION_KEY = [OTHER_KEY]
    # The default manager defers the secret (pages render); reading it raises, as a full load does.
    with pytest.raises(SecretDecryptionError, match="client_secret does not decrypt"):
        ApiCredential.objects.get(pk=credential.pk).client_secret  # noqa: B018
    with pytest.raises(SecretDecryptionError, match="client_secret does not decrypt"):
        ApiCredential._base_manager.get(pk=credential.pk)


def test_wrong_key_cannot_re_encrypt_ciphertext(credential, settings):
    """E3"""
    before = raw_column("payments_apicredential", "client_secret", credential.pk)
    settings.FIELD_ENCRYPTION_KEY = [OTHER_KEY]
    with pytest.raises(SecretDecryptionError):
        ApiCredential._base_manager.get(pk=credential.pk).save()
    # Saved without its (deferred) secret, a credential leaves the stored ciphertext alone.
    ApiCredential.objects.get(pk=credential.pk).save()
    assert raw_column("payments_apicredential", "client_secret", credential.pk) == before


def test_old_key_still_decrypts_during_rotation(credential, settings):
    settings.FIELD_ENCRYPTION_KEY = [OTHER_KEY, *settings.FIELD_ENCRYPTION_KEY]
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == CANARY


def test_bulk_update_stores_the_secret_not_sql(credential):
    """E7"""
    second = ApiCredentialFactory(secret="another-secret-value-1234")
    credential.client_secret, second.client_secret = "bulk-one-secret", "bulk-two-secret"
    ApiCredential.objects.bulk_update([credential, second], ["client_secret"])
    stored = raw_column("payments_apicredential", "client_secret", credential.pk)
    assert stored.startswith("gAAAA")
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == "bulk-one-secret"
    assert ApiCredential.objects.get(pk=second.pk).client_secret == "bulk-two-secret"


def test_lookup_on_secret_is_refused(credential):
    """E8"""
    with pytest.raises(FieldError, match="randomised cipher"):
        ApiCredential.objects.filter(client_secret=CANARY).exists()
    assert ApiCredential.objects.filter(client_secret__isnull=False).count() == 1


def test_empty_secret_is_stored_as_null():
    """E9"""
    credential = ApiCredentialFactory(secret="")
    assert raw_column("payments_apicredential", "client_secret", credential.pk) is None
    assert credential.secret_fingerprint == ""


def test_dumpdata_and_serializers_never_print_the_secret(credential, capsys):
    """E10"""
    call_command("dumpdata", "payments.apicredential", "payments.historicalapicredential")
    dumped = capsys.readouterr().out
    assert CANARY not in dumped and "gAAAA" not in dumped
    assert REDACTED in dumped
    serialized = serializers.serialize("json", ApiCredential.objects.all())
    assert CANARY not in serialized
    assert CANARY not in repr(credential) + str(credential)


def test_redaction_placeholder_is_never_stored_as_a_secret(credential):
    credential.client_secret = "[secret redacted]"
    with pytest.raises(ValueError, match="placeholder"):
        credential.save()


def test_fingerprint_shows_last_four_and_a_hash_only():
    fingerprint = secret_fingerprint(CANARY)
    assert fingerprint.startswith("…0192 · ")
    assert CANARY[:-4] not in fingerprint
    assert fingerprint == secret_fingerprint(CANARY)
    assert fingerprint != secret_fingerprint(CANARY + "x")


def test_override_settings_changes_the_key_in_use(credential):
    """Trap 8: the key is not frozen at import."""
    with override_settings(FIELD_ENCRYPTION_KEY=[OTHER_KEY]):
        rewritten = ApiCredentialFactory(secret="written-under-other-key")
    with pytest.raises(SecretDecryptionError):
        ApiCredential.objects.get(pk=rewritten.pk).client_secret  # noqa: B018
    with override_settings(FIELD_ENCRYPTION_KEY=[OTHER_KEY]):
        assert ApiCredential.objects.get(pk=rewritten.pk).client_secret == "written-under-other-key"


def test_full_clean_refuses_the_redaction_placeholder(credential):
    from django.core.exceptions import ValidationError

    credential.client_secret = "[secret redacted]"
    with pytest.raises(ValidationError, match="placeholder"):
        credential.full_clean()
