"""Key rotation: reencrypt_secrets, verify_secrets and the stored-secrets system check."""

import threading
import time
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection

from payments import crypto, fields
from payments.models import ApiCredential, AuditEvent
from payments.services import credential_save
from payments.services.secrets import secrets_reencrypt
from tests.conftest import raw_column
from tests.factories import ApiCredentialFactory
from tests.threads import postgres_only

pytestmark = pytest.mark.django_db

NEW_KEY = Fernet.generate_key().decode()
UNKNOWN_KEY = Fernet.generate_key().decode()
TABLE = "payments_apicredential"


@pytest.fixture
def old_key(settings):
    return settings.FIELD_ENCRYPTION_KEY[0]


@pytest.fixture
def credentials(old_key):
    return [ApiCredentialFactory(secret=f"rotation-secret-{n}-abcdef") for n in range(6)]


@pytest.fixture
def rotating(settings, old_key, credentials):
    """Settings as during a rotation: the new key first, the old one still readable."""
    settings.FIELD_ENCRYPTION_KEY = [NEW_KEY, old_key]


def secrets_under_new_key_alone(settings) -> dict[int, str]:
    settings.FIELD_ENCRYPTION_KEY = [NEW_KEY]
    return dict(ApiCredential.objects.values_list("pk", "client_secret"))


def set_raw_secret(pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET client_secret = %s WHERE id = %s", [value, pk])


def run(command: str, *args, **options) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=out, **options)
    return out.getvalue()


def test_reencrypt_moves_every_secret_to_the_first_key(settings, credentials, rotating):
    """After reencrypt_secrets every secret decrypts with the new key alone (TEST_PLAN E4)."""
    run("reencrypt_secrets", batch_size=4)
    expected = {c.pk: c.client_secret for c in credentials}
    assert secrets_under_new_key_alone(settings) == expected


def test_second_reencrypt_run_changes_no_row(credentials, rotating):
    """A second reencrypt_secrets run changes no row (TEST_PLAN E4)."""
    run("reencrypt_secrets")
    stored = {c.pk: raw_column(TABLE, "client_secret", c.pk) for c in credentials}
    output = run("reencrypt_secrets")
    assert "0 re-encrypted, 6 already on the first key" in output
    assert {c.pk: raw_column(TABLE, "client_secret", c.pk) for c in credentials} == stored


def test_reencrypt_writes_one_audit_event_with_counts(credentials, rotating):
    """A rotation writes one audit row with its counts (TEST_PLAN E4)."""
    before = AuditEvent.objects.count()
    run("reencrypt_secrets", batch_size=4)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(action="secrets.reencrypted")
    assert event.after["rows"] == 6
    assert event.after["reencrypted"] == 6
    assert event.after["failed"] == 0
    assert event.origin.startswith("manage.py reencrypt_secrets (host user ")


def test_interrupted_reencrypt_completes_when_run_again(
    settings, monkeypatch, credentials, rotating
):
    """Killed after half the rows, the rerun finishes and no secret is lost (TEST_PLAN E5)."""
    real_encrypt, calls = fields.encrypt, []

    def encrypt_then_die(plaintext):
        calls.append(plaintext)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_encrypt(plaintext)

    monkeypatch.setattr(fields, "encrypt", encrypt_then_die)
    with pytest.raises(KeyboardInterrupt):
        run("reencrypt_secrets", batch_size=2)
    monkeypatch.setattr(fields, "encrypt", real_encrypt)

    on_new_key = [
        crypto.decrypts_with_primary_key(raw_column(TABLE, "client_secret", c.pk))
        for c in credentials
    ]
    # Batch 1 committed; the batch that died rolled back whole; the rest never started.
    assert on_new_key == [True, True, False, False, False, False]

    assert "4 re-encrypted, 2 already on the first key" in run("reencrypt_secrets", batch_size=2)
    assert "Every stored secret decrypts" in run("verify_secrets", require_primary=True)
    expected = {c.pk: c.client_secret for c in credentials}
    assert secrets_under_new_key_alone(settings) == expected


def test_reencrypt_reports_rows_no_key_decrypts_and_leaves_them(credentials, rotating):
    broken = credentials[2]
    garbage = Fernet(UNKNOWN_KEY).encrypt(b"written-under-a-lost-key").decode()
    set_raw_secret(broken.pk, garbage)
    with pytest.raises(CommandError, match="1 failed"):
        run("reencrypt_secrets")
    assert raw_column(TABLE, "client_secret", broken.pk) == garbage
    others = [c for c in credentials if c.pk != broken.pk]
    assert all(
        crypto.decrypts_with_primary_key(raw_column(TABLE, "client_secret", c.pk)) for c in others
    )


@pytest.fixture
def three_bad_rows(settings, old_key):
    """One corrupted token, one row on the old key, one double-encrypted row (TEST_PLAN E6)."""
    corrupted, on_old_key, double, fine = (
        ApiCredentialFactory(secret=f"verifier-secret-{n}-1234") for n in range(4)
    )
    settings.FIELD_ENCRYPTION_KEY = [NEW_KEY, old_key]
    set_raw_secret(corrupted.pk, "gAAAAABcorruptedcorruptedcorruptedcorrupted==")
    double.set_secret(crypto.encrypt("verifier-secret-inner-1234"))
    double.save()
    fine.save()
    return {"corrupted": corrupted, "old": on_old_key, "double": double, "fine": fine}


def verify_output(*args) -> str:
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_secrets", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_verify_secrets_lists_each_bad_row_and_fails(three_bad_rows):
    """verify_secrets names each bad row by model, pk and field, and fails (TEST_PLAN E6)."""
    lines = verify_output().splitlines()
    for name, problem in [
        ("corrupted", "does not decrypt"),
        ("old", "older key"),
        ("double", "double encryption"),
    ]:
        location = f"payments.ApiCredential pk={three_bad_rows[name].pk} client_secret "
        assert any(line.startswith(location) and problem in line for line in lines), name
    assert not any(f"pk={three_bad_rows['fine'].pk} " in line for line in lines)


def test_verify_secrets_never_prints_values(three_bad_rows):
    """verify_secrets prints no secret and no ciphertext (TEST_PLAN E6)."""
    output = verify_output("--require-primary")
    assert "verifier-secret" not in output
    assert "gAAAA" not in output


def test_verify_secrets_accepts_old_key_rows_unless_primary_is_required(credentials, rotating):
    assert "6 secret(s) still on an older key" in run("verify_secrets")
    with pytest.raises(CommandError, match="6 stored secret"):
        run("verify_secrets", "--require-primary")


def test_check_database_reports_an_error_and_a_warning(three_bad_rows):
    """`manage.py check --database default` reports an error and a warning (TEST_PLAN E6)."""
    messages = checks.run_checks(tags=[checks.Tags.database], databases=["default"])
    by_id = {}
    for message in messages:
        by_id.setdefault(message.id, []).append(message)
    assert [m.level for m in by_id["payments.E001"]] == [checks.ERROR]
    assert {m.level for m in by_id["payments.W001"]} == {checks.WARNING}
    assert len(by_id["payments.W001"]) == 2
    with pytest.raises(SystemCheckError, match="payments.E001"):
        call_command("check", "--database", "default")


def test_check_without_database_option_does_not_read_secrets(three_bad_rows):
    messages = checks.run_checks(tags=[checks.Tags.database])
    assert not [m for m in messages if m.id.startswith("payments.")]


@postgres_only
def test_reencrypt_never_overwrites_a_secret_rotated_meanwhile(settings, monkeypatch):
    """The row lock makes a concurrent rotation wait: the newer secret wins (TEST_PLAN E4)."""
    credential = ApiCredentialFactory(secret="secret-before-rotation-1234")
    settings.FIELD_ENCRYPTION_KEY = [NEW_KEY, settings.FIELD_ENCRYPTION_KEY[0]]
    row_locked, writer_started = threading.Event(), threading.Event()
    real_decrypt = crypto.decrypt

    def decrypt_slowly(token):
        row_locked.set()
        writer_started.wait(timeout=10)
        time.sleep(0.5)  # the writer is now blocked on the row (or, unlocked, has written)
        return real_decrypt(token)

    monkeypatch.setattr(crypto, "decrypt", decrypt_slowly)
    errors = []

    def rotate_in_the_admin():
        try:
            row_locked.wait(timeout=10)
            writer_started.set()
            fresh = ApiCredential.objects.get(pk=credential.pk)
            credential_save(credential=fresh, new_secret="secret-typed-meanwhile-5678", actor=None)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=rotate_in_the_admin)
    writer.start()
    try:
        secrets_reencrypt(batch_size=10)
    finally:
        writer.join(timeout=30)
    assert not writer.is_alive() and not errors
    monkeypatch.setattr(crypto, "decrypt", real_decrypt)
    settings.FIELD_ENCRYPTION_KEY = [NEW_KEY]
    assert (
        ApiCredential.objects.get(pk=credential.pk).client_secret == "secret-typed-meanwhile-5678"
    )
