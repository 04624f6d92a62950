from contextlib import contextmanager

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from payments.models import AuditEvent, PaymentFlow, PciEnvironment, Stage, VccAccount
from payments.services import (
    audit_record,
    audit_verify_chain,
    promotion_apply,
    promotion_approve,
    promotion_reject,
    promotion_request,
    promotion_rollback,
)
from tests.threads import postgres_only, run_together

pytestmark = pytest.mark.django_db

TABLE = "payments_auditevent"
TRIGGER = "payments_auditevent_append_only"


@contextmanager
def as_dba():
    """A cursor that may change audit rows, as a DBA who switched the guard trigger off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE waits for no deferred foreign-key checks: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TRIGGER}")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TRIGGER}")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.fixture
def chain(demo):
    """A chain with a few events after the demo seed's; returns the ids of the last five."""
    for number in range(3):
        audit_record(action="test.event", reason=f"event {number}", origin="127.0.0.1")
    return list(AuditEvent.objects.order_by("-id").values_list("id", flat=True)[:5])[::-1]


def verify_command() -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_log")
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def test_an_untouched_chain_verifies(chain, capsys):
    call_command("verify_audit_log")
    assert f"Audit chain intact: {AuditEvent.objects.count()} events checked." in (
        capsys.readouterr().out
    )


def test_a_reason_edited_in_sql_is_named_as_the_first_broken_row(chain):
    """A reason edited in SQL is named as the first broken row (TEST_PLAN U2)."""
    with as_dba() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["nothing", chain[2]])
    assert audit_verify_chain().event_id == chain[2]
    message = verify_command()
    assert f"First broken row: audit event #{chain[2]} " in message
    assert "was edited after it was written" in message


def test_an_outcome_flipped_in_sql_is_detected(chain):
    with as_dba() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET outcome = 'denied' WHERE id = %s", [chain[1]])
    assert f"audit event #{chain[1]} " in verify_command()


def test_a_middle_row_deleted_in_sql_names_the_row_after_the_gap(chain):
    """A middle row deleted in SQL is found: the row after the gap is named (TEST_PLAN U2)."""
    with as_dba() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [chain[2]])
    message = verify_command()
    assert f"First broken row: audit event #{chain[3]} " in message
    assert "does not follow the row before it" in message
    assert f"the row before it is #{chain[1]}" in message


def test_deleting_the_newest_rows_in_sql_is_detected(chain):
    with as_dba() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id >= %s", [chain[3]])
    message = verify_command()
    assert f"after the last row (#{chain[2]})" in message
    assert "newest rows were deleted" in message


def test_the_application_refuses_to_change_or_delete_audit_rows(chain):
    """The application refuses to change or delete audit rows, on any database (TEST_PLAN U1)."""
    event = AuditEvent.objects.get(pk=chain[0])
    event.reason = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=chain[0]).update(reason="rewritten")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=chain[0]).delete()
    assert audit_verify_chain() is None


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL")
@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET reason = 'rewritten' WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
    ],
)
def test_the_database_refuses_sql_updates_and_deletes_of_audit_rows(chain, statement):
    """The app's own database role cannot edit the trail even in raw SQL (TEST_PLAN U1)."""
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [chain[0]])
    assert AuditEvent.objects.get(pk=chain[0]).reason != "rewritten"
    assert audit_verify_chain() is None


def _staging_flow(number: int) -> PaymentFlow:
    return PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING),
        number=number,
        name=f"Flow {number}",
    )


def test_every_promotion_event_has_the_pci_required_fields(demo):
    """Each promotion event has actor, action, time, outcome, origin and object (TEST_PLAN U4)."""
    registry = User.objects.get(username="registry")
    approver = User.objects.get(username="approver")
    production = VccAccount.objects.get(name="Production")
    origin = "192.0.2.10 req-42"
    steps = []
    for number, finish in [(697, "rollback"), (698, "reject")]:
        promotion = promotion_request(
            source_flow=_staging_flow(number),
            target_account=production,
            production_flow_number=number - 270,
            configuration_id=number - 690,
            reason="go live",
            actor=registry,
            origin=origin,
        )
        if finish == "reject":
            promotion_reject(promotion=promotion, actor=approver, reason="no", origin=origin)
            continue
        promotion_approve(promotion=promotion, actor=approver, origin=origin)
        promotion_apply(promotion=promotion, actor=approver, origin=origin)
        promotion_rollback(promotion=promotion, actor=approver, reason="x", origin=origin)
        steps.append(promotion)
    with pytest.raises(Exception):  # noqa: B017 - a refusal of either kind is recorded
        promotion_approve(promotion=steps[0], actor=registry, origin=origin)
    events = AuditEvent.objects.filter(action__startswith="promotion.")
    assert {e.action for e in events} == {
        "promotion.requested",
        "promotion.approved",
        "promotion.applied",
        "promotion.rolled_back",
        "promotion.rejected",
    }
    assert {e.outcome for e in events} == {"success", "denied"}
    for event in events:
        assert event.actor_id and event.actor_name
        assert event.created_at.utcoffset().total_seconds() == 0
        assert event.origin == origin
        assert event.object_type == "promotion" and event.object_id.isdigit()
        assert event.object_repr and event.row_hash and event.prev_hash


@postgres_only
def test_concurrent_promotions_make_a_single_linear_chain(demo):
    """8 promotions at once leave one chain: each row follows one other (TEST_PLAN U3)."""
    registry = User.objects.get(username="registry")
    production = VccAccount.objects.get(name="Production")
    flows = [_staging_flow(700 + index) for index in range(8)]
    start = AuditEvent.objects.count()

    def promote(index):
        return promotion_request(
            source_flow=flows[index],
            target_account=production,
            production_flow_number=500 + index,
            configuration_id=50 + index,
            reason=f"go live {index}",
            actor=registry,
        )

    outcomes = run_together(8, promote)
    assert [o.error for o in outcomes] == [None] * 8
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == start + 8
    prev_hashes = [event.prev_hash for event in events]
    assert len(set(prev_hashes)) == len(prev_hashes)
    assert all(b.prev_hash == a.row_hash for a, b in zip(events, events[1:], strict=False))
    assert audit_verify_chain() is None


def test_a_write_whose_audit_row_fails_is_not_committed(db, monkeypatch):
    """U6: no savepoint around the event, so catching its failure cannot keep the write."""
    environment = PciEnvironment.objects.create(name="Node", stage=Stage.STAGING)

    def refuse(self, *args, **kwargs):
        raise DatabaseError("the audit table refused the row")

    monkeypatch.setattr(AuditEvent, "save", refuse)
    with transaction.atomic():
        flow = PaymentFlow.objects.create(environment=environment, number=7001, name="Unaudited")
        with pytest.raises(DatabaseError):
            audit_record(action="paymentflow.created", obj=flow)
    assert not PaymentFlow.objects.filter(number=7001).exists()
