import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_check(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in env_overrides}
    env.update({k: v for k, v in env_overrides.items() if v is not None})
    env["DJANGO_SETTINGS_MODULE"] = "vccregistry.settings"
    env["ENV_FILE"] = str(ROOT / "tests" / "no-such.env")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_encryption_key_stops_startup():
    """E11"""
    result = run_check(FIELD_ENCRYPTION_KEY=None)
    assert result.returncode != 0
    assert "ImproperlyConfigured: FIELD_ENCRYPTION_KEY is not set" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_malformed_encryption_key_stops_startup_with_help():
    result = run_check(FIELD_ENCRYPTION_KEY="not-a-key")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY entry 1 is not a valid Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr


def test_key_list_is_read_for_rotation():
    result = run_check(
        FIELD_ENCRYPTION_KEY="NTW4GpBju33d7lof80-OxWN5hDdNmlZsXko2SoclOeg=,"
        "d2HYHtphTWxCtrZy6zYZWts3DnGPRNuM_4YlWkmz0B0="
    )
    assert result.returncode == 0, result.stderr
