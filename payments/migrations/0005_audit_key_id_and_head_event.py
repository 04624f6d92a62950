from django.db import migrations, models

GENESIS_HASH = "0" * 64

# The head may only move one step forward along the chain: onto a newer event that follows the
# old head and carries the new hash. Nothing may delete or truncate it, nor truncate the events
# (the row trigger of 0002 does not fire on TRUNCATE).
GUARDS_SQL = f"""
CREATE TRIGGER payments_auditevent_no_truncate
    BEFORE TRUNCATE ON payments_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION payments_auditevent_append_only();
CREATE FUNCTION payments_auditchainhead_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.last_hash = '{GENESIS_HASH}' AND NEW.last_event_id = 0 THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.last_event_id > OLD.last_event_id
        AND EXISTS (
            SELECT 1 FROM payments_auditevent
            WHERE id = NEW.last_event_id AND row_hash = NEW.last_hash
                AND prev_hash = OLD.last_hash
        ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head only moves forward, onto the event that follows it';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payments_auditchainhead_forward_only
    BEFORE INSERT OR UPDATE OR DELETE ON payments_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION payments_auditchainhead_forward_only();
CREATE TRIGGER payments_auditchainhead_no_truncate
    BEFORE TRUNCATE ON payments_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION payments_auditchainhead_forward_only();
"""

DROP_GUARDS_SQL = """
DROP TRIGGER payments_auditevent_no_truncate ON payments_auditevent;
DROP TRIGGER payments_auditchainhead_no_truncate ON payments_auditchainhead;
DROP TRIGGER payments_auditchainhead_forward_only ON payments_auditchainhead;
DROP FUNCTION payments_auditchainhead_forward_only();
"""


def point_head_at_its_event(apps, schema_editor):
    """Name the event the existing head's hash belongs to (0 on an empty chain)."""
    event = (
        apps.get_model("payments", "AuditEvent")
        .objects.filter(row_hash=models.OuterRef("last_hash"))
        .values("id")[:1]
    )
    apps.get_model("payments", "AuditChainHead").objects.filter(
        last_hash__in=apps.get_model("payments", "AuditEvent").objects.values("row_hash")
    ).update(last_event_id=models.Subquery(event))


def create_guards(apps, schema_editor):
    # SQLite (the demo database) relies on the model, the keyed chain and the digests: its
    # test flush deletes rows, which a trigger would block.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARDS_SQL)


def drop_guards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_GUARDS_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_notifications_schedules_freezes"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="last_event_id",
            field=models.BigIntegerField(default=0),
        ),
        # Rows written before this migration keep key_id "": verify_audit_log checks them with
        # the unkeyed hash they were written with and reports them as unkeyed.
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(point_head_at_its_event, migrations.RunPython.noop),
        migrations.RunPython(create_guards, drop_guards),
    ]
