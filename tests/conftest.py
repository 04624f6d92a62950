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
