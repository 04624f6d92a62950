"""Keyed audit hashes and signed digests prove the trail is complete."""

import json
import logging
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from payments.audit_keys import audit_key_id
from payments.models import (
    AuditChainHead,
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    Stage,
    VccAccount,
)
from payments.services import (
    audit_record,
    audit_verify_chain,
    promotion_apply,
    promotion_approve,
    promotion_request,
)
from payments.services.audit import event_hash
from payments.services.audit_digest import audit_digest_write
from tests.processes import ROOT, run_python, settings_env

pytestmark = pytest.mark.django_db

EVENTS = "payments_auditevent"
HEAD = "payments_auditchainhead"
OTHER_KEY = "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers exist on PostgreSQL"
)


@contextmanager
def as_dba():
    """A cursor that may change the audit tables, as a DBA who switched their triggers off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in (EVENTS, HEAD):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                for table in (EVENTS, HEAD):
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def set_head(cursor, event: AuditEvent | None) -> None:
    cursor.execute(
        f"UPDATE {HEAD} SET last_hash = %s, last_event_id = %s WHERE id = 1",
        [event.row_hash if event else "0" * 64, event.pk if event else 0],
    )


@pytest.fixture
def digested(db):
    """Five events and a digest written after the last one; returns the event ids."""
    for number in range(5):
        audit_record(action="test.event", reason=f"event {number}", origin="127.0.0.1")
    audit_digest_write()
    return list(AuditEvent.objects.order_by("id").values_list("id", flat=True))


def verify_fails() -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_log")
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def digest_files(settings) -> list[Path]:
    return sorted(Path(settings.AUDIT_DIGEST_DIR).glob("audit-digest-*.json"))


def test_new_events_are_keyed_with_the_first_audit_key(settings, digested):
    event = AuditEvent.objects.get(pk=digested[-1])
    assert event.key_id == audit_key_id(settings.AUDIT_KEY[0])
    # The key is nowhere in the database: not in the row, not in the head.
    assert settings.AUDIT_KEY[0] not in json.dumps(list(AuditEvent.objects.values()), default=str)
    settings.AUDIT_KEY = [OTHER_KEY]
    assert "not configured" in audit_verify_chain().problem


def test_the_digest_file_names_the_head_and_is_signed(settings, digested, capsys):
    (path,) = digest_files(settings)
    digest = json.loads(path.read_text())
    last = AuditEvent.objects.get(pk=digested[-1])
    assert digest["last_event_id"] == last.pk
    assert digest["head_hash"] == last.row_hash
    assert digest["event_count"] == len(digested)
    assert digest["key_id"] == audit_key_id(settings.AUDIT_KEY[0])
    assert len(digest["signature"]) == 64 and digest["created_at"]
    call_command("verify_audit_log")
    assert "Matches all 1 digests" in capsys.readouterr().out


def test_the_command_writes_a_digest(settings, digested, capsys):
    call_command("audit_digest")
    assert "Wrote " in capsys.readouterr().out
    assert len(digest_files(settings)) == 2


def test_a_digest_with_an_altered_count_fails_its_signature(settings, digested):
    (path,) = digest_files(settings)
    digest = json.loads(path.read_text())
    digest["event_count"] -= 1
    path.write_text(json.dumps(digest))
    assert f"digest {path.name} has a signature that does not verify" in verify_fails()


def test_deleting_the_last_row_and_setting_the_head_back_is_detected(digested):
    """Attack 1: the chain alone is consistent again; the digest names the missing row."""
    with as_dba() as cursor:
        cursor.execute(f"DELETE FROM {EVENTS} WHERE id = %s", [digested[-1]])
        set_head(cursor, AuditEvent.objects.get(pk=digested[-2]))
    assert audit_verify_chain() is None  # what verify_audit_log reported before digests
    message = verify_fails()
    assert f"signed event #{digested[-1]} as the head" in message
    assert f"event #{digested[-1]} is missing from the database" in message


def test_deleting_every_row_and_resetting_the_head_is_detected(digested):
    """Attack 2: 0 events checked used to be "intact"."""
    with as_dba() as cursor:
        cursor.execute(f"DELETE FROM {EVENTS}")
        set_head(cursor, None)
    assert audit_verify_chain() is None
    message = verify_fails()
    assert f"event #{digested[-1]} is missing from the database" in message
    assert f"after {len(digested)} events" in message


@contextmanager
def attacker_key(settings, key_id: str):
    """Hash as an attacker who knows the code and the key id, but guesses the key."""
    real_keys = settings.AUDIT_KEY
    settings.AUDIT_KEY = [OTHER_KEY]
    with mock.patch("payments.audit_keys.audit_key_id", return_value=key_id):
        yield
    settings.AUDIT_KEY = real_keys


@pytest.mark.parametrize("forgery", ["guessed key", "unkeyed"])
def test_an_edited_event_with_every_later_hash_recomputed_is_detected(settings, digested, forgery):
    """Attack 3: without AUDIT_KEY the recomputed hashes do not check out."""
    edited = digested[1]
    events = list(AuditEvent.objects.filter(id__gte=edited).order_by("id"))
    prev_hash = events[0].prev_hash
    with as_dba() as cursor:
        for event in events:
            if event.pk == edited:
                event.reason = "nothing happened"
            if forgery == "unkeyed":
                event.key_id = ""
                row_hash = event_hash(event, prev_hash)
            else:
                with attacker_key(settings, event.key_id):
                    row_hash = event_hash(event, prev_hash)
            cursor.execute(
                f"UPDATE {EVENTS} SET reason = %s, key_id = %s, prev_hash = %s, row_hash = %s "
                "WHERE id = %s",
                [event.reason, event.key_id, prev_hash, row_hash, event.pk],
            )
            event.prev_hash, event.row_hash, prev_hash = prev_hash, row_hash, row_hash
        set_head(cursor, events[-1])
    message = verify_fails()
    assert f"First broken row: audit event #{edited} " in message
    expected = "is unkeyed after keyed rows" if forgery == "unkeyed" else "was edited after"
    assert expected in message
    assert "now has another hash (the chain was rewritten)" in message


def test_a_whole_chain_rewritten_unkeyed_still_fails_the_digest(digested):
    """A downgrade of every row to legacy hashes passes the chain walk, not the digest."""
    prev_hash = "0" * 64
    with as_dba() as cursor:
        cursor.execute(f"UPDATE {EVENTS} SET prev_hash = 'p' || id, row_hash = 'r' || id")
        for event in AuditEvent.objects.order_by("id"):
            event.key_id, event.prev_hash = "", prev_hash
            event.row_hash = event_hash(event, prev_hash)
            cursor.execute(
                f"UPDATE {EVENTS} SET key_id = '', prev_hash = %s, row_hash = %s WHERE id = %s",
                [prev_hash, event.row_hash, event.pk],
            )
            prev_hash = event.row_hash
        set_head(cursor, event)
    assert audit_verify_chain() is None
    assert "the chain was rewritten" in verify_fails()


def test_legacy_unkeyed_rows_keep_verifying_and_are_reported(db, capsys):
    """Rows from before the migration (key_id "") check with their unkeyed hash."""
    with mock.patch("payments.services.audit.signing_key_id", return_value=""):
        legacy = [audit_record(action="old.event", reason=str(n)) for n in range(2)]
    assert [e.key_id for e in legacy] == ["", ""]
    keyed = audit_record(action="new.event")
    assert keyed.key_id and keyed.prev_hash == legacy[-1].row_hash
    call_command("verify_audit_log")
    out = capsys.readouterr().out
    assert "Audit chain intact: 3 events checked." in out
    assert f"Events up to #{legacy[-1].pk} (2) are legacy unkeyed rows" in out


def test_rows_keyed_with_a_rotated_key_verify_while_it_is_listed(settings, digested):
    old_key = settings.AUDIT_KEY[0]
    settings.AUDIT_KEY = [OTHER_KEY, old_key]
    newer = audit_record(action="after.rotation")
    assert newer.key_id == audit_key_id(OTHER_KEY)
    call_command("verify_audit_log")
    settings.AUDIT_KEY = [OTHER_KEY]
    message = verify_fails()
    assert f"is keyed with AUDIT_KEY id {audit_key_id(old_key)}, which is not configured" in (
        message
    )


@pytest.fixture
def promotion(demo):
    flow = PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING), number=697, name="Flow 697"
    )
    promotion = promotion_request(
        source_flow=flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=427,
        configuration_id=7,
        reason="go live",
        actor=User.objects.get(username="registry"),
    )
    promotion_approve(promotion=promotion, actor=User.objects.get(username="approver"))
    return promotion


def test_a_promotion_apply_writes_a_digest_after_commit(
    settings, promotion, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        promotion_apply(promotion=promotion, actor=User.objects.get(username="approver"))
    (path,) = digest_files(settings)
    applied = AuditEvent.objects.get(action="promotion.applied")
    assert json.loads(path.read_text())["last_event_id"] >= applied.pk
    call_command("verify_audit_log")


def test_a_failing_digest_write_does_not_undo_the_apply(
    settings, promotion, django_capture_on_commit_callbacks, caplog, tmp_path
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.AUDIT_DIGEST_DIR = blocker / "digests"
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        promotion_apply(promotion=promotion, actor=User.objects.get(username="approver"))
    promotion.refresh_from_db()
    assert promotion.applied_at is not None
    assert "Could not write the audit digest" in caplog.text


@on_postgres
@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        # CASCADE: notifications point at their events, and an attacker would take them too.
        f"TRUNCATE {EVENTS} CASCADE",
        f"TRUNCATE {HEAD}",
        f"DELETE FROM {HEAD}",
        f"UPDATE {HEAD} SET last_hash = repeat('0', 64), last_event_id = 0",
    ],
)
def test_the_database_refuses_truncating_the_trail_and_moving_the_head(digested, statement):
    """Attack 4 (and its helpers): the database itself refuses, for the app's own role."""
    with connection.cursor() as cursor:
        # TRUNCATE waits for no deferred foreign-key checks of the test's transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match="append-only|only moves forward"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.count() == len(digested)
    call_command("verify_audit_log")


@on_postgres
@pytest.mark.postgres
def test_the_head_cannot_jump_to_an_older_event_but_appends_still_work(digested):
    with pytest.raises(DatabaseError, match="only moves forward"):
        with transaction.atomic(), connection.cursor() as cursor:
            set_head(cursor, AuditEvent.objects.get(pk=digested[1]))
    audit_record(action="still.appends")
    assert AuditChainHead.objects.get(pk=1).last_event_id == AuditEvent.objects.latest("id").pk
    call_command("verify_audit_log")


@on_postgres
@pytest.mark.postgres
def test_a_truncate_past_disabled_triggers_is_detected(digested):
    """Attack 4 by a table owner who switched the triggers off: the digest still tells."""
    with as_dba() as cursor:
        cursor.execute(f"TRUNCATE {EVENTS} CASCADE")
        set_head(cursor, None)
    assert f"event #{digested[-1]} is missing from the database" in verify_fails()


def run_settings(**env_overrides):
    return run_python(
        ["-c", "import django; django.setup()"], settings_env(DATABASE_URL=None, **env_overrides)
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "ImproperlyConfigured: AUDIT_KEY is not set"),
        ("not-a-key", "AUDIT_KEY entry 1 is not 32 url-safe base64-encoded bytes"),
        ("q0Zp2oYw1xk7Jc3H9v4mN8tR6sL5uE1aB2dF3gH4iJ0=,c2hvcnQ=", "AUDIT_KEY entry 2 is not"),
    ],
)
def test_a_missing_or_malformed_audit_key_stops_startup(value, message):
    result = run_settings(AUDIT_KEY=value)
    assert result.returncode != 0
    assert message in result.stderr
    assert "c2hvcnQ" not in result.stderr and "not-a-key" not in result.stderr


def test_make_env_writes_an_audit_key_and_var_is_ignored(tmp_path):
    subprocess.run([sys.executable, "scripts/make_env.py", tmp_path / ".env"], cwd=ROOT, check=True)
    lines = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()[1:])
    assert run_settings(AUDIT_KEY=lines["AUDIT_KEY"]).returncode == 0
    assert "AUDIT_KEY=" in (ROOT / ".env.example").read_text()
    assert "/var/" in (ROOT / ".gitignore").read_text().splitlines()
