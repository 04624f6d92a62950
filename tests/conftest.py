import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from payments.services.demo import ENVIRONMENTS, DemoResult, demo_seed
from payments.vcc import tokens

DEMO_PASSWORD = "demo-password-for-tests"
DEMO_EMULATOR_URL = "http://127.0.0.1:8100"
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The demo is seeded once per session and committed; each test that asks for it runs inside
# its own transaction and rolls its changes back. Tests that do not ask for it expect an empty
# registry, so they run first (see pytest_collection_modifyitems) and the seed is made on the
# first test that needs it. Transactional tests commit and are flushed afterwards: the demo
# fixture seeds again when a flush removed it. See docs/TEST_PLAN.md, "How the suite runs".
_demo_state = {"committed": False, "result": None}


def _uses_demo(item) -> bool:
    return "demo" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Tests without the demo before tests with it; pytest-django's stable sort runs next."""
    items.sort(key=_uses_demo)


def _demo_present() -> bool:
    from payments.models import PciEnvironment

    return PciEnvironment.objects.filter(name__in=ENVIRONMENTS.values()).count() == len(
        ENVIRONMENTS
    )


def _flush_test_database() -> None:
    """Empty every table as Django does after a transactional test (roles are re-created)."""
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)
    _demo_state["committed"] = False


def _seed_demo() -> DemoResult:
    return demo_seed(emulator_url=DEMO_EMULATOR_URL, password=DEMO_PASSWORD)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, empty of demo rows even when --reuse-db kept an earlier session's."""
    with django_db_blocker.unblock():
        if _demo_present():
            _flush_test_database()


@pytest.fixture(scope="session")
def _demo_seeded_once(django_db_setup, django_db_blocker):
    """Seed and commit the demo on the first test that asks for it."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        _demo_state["result"] = _seed_demo()
    _demo_state["committed"] = True
    return _demo_state["result"]


@pytest.fixture
def demo(_demo_seeded_once, db):
    """Both seed topologies and the demo users, as seed_demo makes them."""
    if _demo_present():
        return _demo_state["result"]
    # A transactional test flushed the tables: this test gets its own copy.
    return _seed_demo()


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool({"transactional_db", "live_server"} & set(item.fixturenames))


def _uses_db(item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & set(item.fixturenames)
    )


@pytest.fixture(autouse=True)
def _empty_registry_unless_demo(request, django_db_blocker):
    """A test that did not ask for the demo sees none of it, as on a fresh database."""
    item = request.node
    transactional = _is_transactional(item)
    if _demo_state["committed"] and not _uses_demo(item) and _uses_db(item):
        if not transactional:
            pytest.fail(
                "the committed demo is in the database of a test that did not ask for it: "
                "tests without the demo must run before the first one with it"
            )
        with django_db_blocker.unblock():
            _flush_test_database()
    yield
    if transactional:
        # The transactional test's teardown flushes every table, the demo's rows included.
        _demo_state["committed"] = False


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
def vcc_emulator(settings):
    """A VCC emulator on an ephemeral port, with nothing provisioned until the test says what.

    Its world is its own, as VCC's is, and it never reads the database: once the registry's rows
    exist, provision_from_registry(server) gives it their accounts, credentials and links, and
    point_accounts_at(server) sends the accounts' VCC calls to it.
    """
    from payments.vcc.emulator import EmulatorServer, StaticWorld

    server = EmulatorServer(world=StaticWorld({"accounts": []})).start()
    # Configured, as make demo configures it: only then is its agent page allowed.
    settings.VCC_EMULATOR_URL = server.url
    try:
        yield server
    finally:
        server.stop()


def provision_from_registry(server, *, leave_out=()) -> dict:
    """Give the emulator the registry's world now, less (account, configuration id) pairs."""
    from payments.services.demo import emulator_world_from_registry
    from payments.vcc.emulator import StaticWorld

    world = emulator_world_from_registry(leave_out=leave_out)
    server.provision(StaticWorld(world))
    return world


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
def _process_digests_in_tmp(tmp_path_factory):
    """And those of the processes tests start (a worker signs the chain's head when it starts).

    Left to the default, they land in the checkout's var/audit-digests, signed with the tests'
    key, and the demo's `verify_audit_log` then fails on digests it cannot check.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUDIT_DIGEST_DIR", str(tmp_path_factory.mktemp("process-audit-digests")))
        yield


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
