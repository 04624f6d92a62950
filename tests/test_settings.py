import json

from tests.processes import run_python, settings_env


def run_check(code: str = "", **env_overrides):
    setup = "import django; django.setup()\n"
    return run_python(["-c", setup + code], settings_env(**env_overrides))


def test_missing_encryption_key_stops_startup():
    """Without FIELD_ENCRYPTION_KEY start-up stops with ImproperlyConfigured (TEST_PLAN E11)."""
    result = run_check(FIELD_ENCRYPTION_KEY=None)
    assert result.returncode != 0
    assert "ImproperlyConfigured: FIELD_ENCRYPTION_KEY is not set" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_malformed_encryption_key_stops_startup_with_help():
    result = run_check(FIELD_ENCRYPTION_KEY="not-a-key")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY entry 1 is not a valid Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr


NEW_KEY = "NTW4GpBju33d7lof80-OxWN5hDdNmlZsXko2SoclOeg="
OLD_KEY = "d2HYHtphTWxCtrZy6zYZWts3DnGPRNuM_4YlWkmz0B0="
# Run after start-up: what the settings hold and what the app's crypter does with them.
REPORT_KEYS = f"""
import json
from cryptography.fernet import Fernet
from django.conf import settings
from payments import crypto
print(json.dumps({{
    "keys": settings.FIELD_ENCRYPTION_KEY,
    "debug": settings.DEBUG,
    "new_key_reads_what_the_app_writes": Fernet({NEW_KEY!r}).decrypt(
        crypto.encrypt("written").encode()
    ).decode(),
    "app_reads_old_key_rows": crypto.decrypt(Fernet({OLD_KEY!r}).encrypt(b"old row").decode()),
}}))
"""


def test_key_list_is_read_for_rotation():
    """A key list starts up: the first key encrypts, the second still decrypts, DEBUG stays off."""
    result = run_check(REPORT_KEYS, FIELD_ENCRYPTION_KEY=f"{NEW_KEY},{OLD_KEY}", DEBUG=None)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "keys": [NEW_KEY, OLD_KEY],
        "debug": False,
        "new_key_reads_what_the_app_writes": "written",
        "app_reads_old_key_rows": "old row",
    }


def run_manage(*args: str, **env_overrides):
    return run_python(["manage.py", *args], settings_env(**env_overrides))


def test_manage_py_without_a_key_says_what_to_do_without_a_traceback():
    """A newcomer who runs manage.py before `make .env` reads the fix, not 40 lines of stack."""
    result = run_manage("check", SECRET_KEY=None)
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error: SECRET_KEY is not set."), result.stderr
    assert "make .env" in result.stderr
    assert "Traceback" not in result.stderr


def test_manage_py_traceback_flag_still_shows_the_stack():
    result = run_manage("check", "--traceback", SECRET_KEY=None)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ImproperlyConfigured" in result.stderr
