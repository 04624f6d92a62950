import pytest
from django.db import connection

from payments.services.demo import demo_seed
from payments.vcc import tokens

DEMO_PASSWORD = "demo-password-for-tests"


@pytest.fixture
def demo(db):
    """Both seed topologies and the demo users, as seed_demo makes them."""
    return demo_seed(emulator_url="http://127.0.0.1:8100", password=DEMO_PASSWORD)


@pytest.fixture
def people(demo):
    """The demo users by username."""
    from django.contrib.auth.models import User

    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def new_flow(demo):
    """A staging flow that is not promoted yet (beside the demo's own 699)."""
    from payments.models import PaymentFlow, PciEnvironment, Stage

    return PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING),
        number=697,
        name="Card payment with 3-D Secure",
    )


@pytest.fixture
def admin_user(db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", password="correct horse battery")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def raw_column(table: str, column: str, pk: int) -> str | None:
    """Read a column as stored, bypassing the ORM's field conversion."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.fixture
def vcc_emulator(transactional_db):
    """A VCC emulator on an ephemeral port whose world is the test database (RegistryWorld).

    Transactional, because the emulator's threads read the registry through their own
    connections and only see committed rows. On SQLite the test database is in memory, which
    no other connection can open: the threads share the test's connection instead, as Django's
    live server does. Call point_accounts_at(server) once the accounts exist.
    """
    from django.db import connections

    from payments.vcc.emulator import EmulatorServer, RegistryWorld

    shared = {
        alias: connections[alias]
        for alias in connections
        if connections[alias].vendor == "sqlite" and connections[alias].is_in_memory_db()
    }
    for shared_connection in shared.values():
        shared_connection.inc_thread_sharing()
    server = EmulatorServer(world=RegistryWorld(), connections_override=shared).start()
    try:
        yield server
    finally:
        server.stop()
        for shared_connection in shared.values():
            shared_connection.dec_thread_sharing()


def point_accounts_at(server) -> None:
    """Send every VccAccount's VCC calls to an emulator (test helper, no audit trail)."""
    from payments.models import VccAccount

    VccAccount.objects.update(auth_base_url=server.url, payment_base_url=f"{server.url}/globalpci")


@pytest.fixture(autouse=True)
def _no_vcc_tokens_in_memory():
    """Every test starts without the tokens an earlier test's emulator issued."""
    tokens.forget_tokens_in_memory()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _audit_digests_in_tmp(settings, tmp_path):
    """Digests written by a test (e.g. after a promotion apply) go to its own directory."""
    settings.AUDIT_DIGEST_DIR = tmp_path / "audit-digests"


@pytest.fixture(scope="session", autouse=True)
def _test_flush_passes_the_audit_guards():
    """Let the test flush truncate the audit tables, whose PostgreSQL triggers refuse TRUNCATE.

    As a DBA would: session_replication_role=replica (superuser only) skips the triggers for
    the flush's own transaction; the deployed database has no such bypass for the app.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else []

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original
