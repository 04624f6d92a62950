import pytest
from django.db import connection

from payments.services.demo import demo_seed

DEMO_PASSWORD = "demo-password-for-tests"


@pytest.fixture
def demo(db):
    """Both seed topologies and the demo users, as seed_demo makes them."""
    return demo_seed(emulator_url="http://127.0.0.1:8100", password=DEMO_PASSWORD)


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


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
