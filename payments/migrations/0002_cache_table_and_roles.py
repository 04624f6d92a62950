from django.contrib.auth.management import create_permissions
from django.core.management import call_command
from django.db import migrations

from payments.roles import roles_ensure

def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_ensure(apps)


GENESIS_HASH = "0" * 64

APPEND_ONLY_SQL = """
CREATE FUNCTION payments_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payments_auditevent_append_only
    BEFORE UPDATE OR DELETE ON payments_auditevent
    FOR EACH ROW EXECUTE FUNCTION payments_auditevent_append_only();
"""


def create_audit_chain(apps, schema_editor):
    apps.get_model("payments", "AuditChainHead").objects.get_or_create(
        pk=1, defaults={"last_hash": GENESIS_HASH}
    )
    # On PostgreSQL the database itself refuses edits. SQLite (the demo database) relies on
    # the model and the hash chain: its test flush deletes rows, which a trigger would block.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_audit_chain, migrations.RunPython.noop),
    ]
