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
    """A secret reads back as saved and is Fernet ciphertext in the column (TEST_PLAN E1)."""
    stored = raw_column("payments_apicredential", "client_secret", credential.pk)
    assert stored.startswith("gAAAA")
    assert CANARY not in stored
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == CANARY


def test_wrong_key_raises_instead_of_returning_ciphertext(credential, settings):
    """A wrong key raises instead of returning ciphertext as the secret (TEST_PLAN E2)."""
    settings.FIELD_ENCRYPTION_KEY = [OTHER_KEY]
    # The default manager defers the secret (pages render); reading it raises, as a full load does.
    with pytest.raises(SecretDecryptionError, match="client_secret does not decrypt"):
        ApiCredential.objects.get(pk=credential.pk).client_secret  # noqa: B018
    with pytest.raises(SecretDecryptionError, match="client_secret does not decrypt"):
        ApiCredential._base_manager.get(pk=credential.pk)


def test_wrong_key_cannot_re_encrypt_ciphertext(credential, settings):
    """Under a wrong key the row cannot be loaded, so never re-encrypted (TEST_PLAN E3)."""
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
    """bulk_update stores each secret encrypted, not the text of a SQL CASE (TEST_PLAN E7)."""
    second = ApiCredentialFactory(secret="another-secret-value-1234")
    credential.client_secret, second.client_secret = "bulk-one-secret", "bulk-two-secret"
    # The credential's own manager refuses (the fingerprint could not follow): the field's
    # guard is exercised through the plain base manager.
    ApiCredential._base_manager.bulk_update([credential, second], ["client_secret"])
    stored = raw_column("payments_apicredential", "client_secret", credential.pk)
    assert stored.startswith("gAAAA")
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == "bulk-one-secret"
    assert ApiCredential.objects.get(pk=second.pk).client_secret == "bulk-two-secret"


def test_bulk_update_of_a_credential_secret_is_refused_and_stores_nothing(credential):
    """Bulk_update would leave the fingerprint describing another secret."""
    before = raw_column("payments_apicredential", "client_secret", credential.pk)
    credential.client_secret = "bulk-one-secret"
    with pytest.raises(FieldError, match=r"bulk_update\(\) may not write client_secret"):
        ApiCredential.objects.bulk_update([credential], ["client_secret"])
    assert raw_column("payments_apicredential", "client_secret", credential.pk) == before
    assert before.startswith("gAAAA")


def test_lookup_on_secret_is_refused(credential):
    """Filtering on the secret raises instead of silently matching nothing (TEST_PLAN E8)."""
    with pytest.raises(FieldError, match="randomised cipher"):
        ApiCredential.objects.filter(client_secret=CANARY).exists()
    assert ApiCredential.objects.filter(client_secret__isnull=False).count() == 1


def test_empty_secret_is_stored_as_null():
    """An empty secret is stored as NULL with no fingerprint (TEST_PLAN E9)."""
    credential = ApiCredentialFactory(secret="")
    assert raw_column("payments_apicredential", "client_secret", credential.pk) is None
    assert credential.secret_fingerprint == ""


def test_dumpdata_and_serializers_never_print_the_secret(credential, capsys):
    """dumpdata, serializers, repr and str never print the secret (TEST_PLAN E10)."""
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
    secret = "long-enough-" + CANARY  # 32+ characters: the last 4 may show
    fingerprint = secret_fingerprint(secret)
    assert fingerprint.startswith("…0192 · ")
    assert secret[:-4] not in fingerprint
    assert fingerprint == secret_fingerprint(secret)
    assert fingerprint != secret_fingerprint(secret + "x")


@pytest.mark.parametrize("length", [8, 12, 31])
def test_fingerprint_of_a_short_secret_shows_the_digest_alone(length):
    secret = CANARY.ljust(length, "z")[:length]
    fingerprint = secret_fingerprint(secret)
    assert fingerprint.startswith("… · ") and len(fingerprint) == len("… · ") + 8
    assert secret[-4:] not in fingerprint


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
