import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_env.py"
NAMES = ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "AUDIT_KEY", "DEMO_PASSWORD", "VCC_WEBHOOK_TOKEN"]


def make_env(path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), str(path)], check=True, capture_output=True)


def values(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs}


def test_make_env_writes_every_key_on_a_fresh_checkout(tmp_path):
    env = tmp_path / ".env"
    make_env(env)
    written = values(env)
    assert set(NAMES) <= set(written)
    assert all(written[name] for name in NAMES)


def test_make_env_adds_only_what_an_older_env_lacks(tmp_path):
    env = tmp_path / ".env"
    env.write_text("SECRET_KEY=kept-as-it-was\nFIELD_ENCRYPTION_KEY=also-kept")
    make_env(env)
    written = values(env)
    assert written["SECRET_KEY"] == "kept-as-it-was"
    assert written["FIELD_ENCRYPTION_KEY"] == "also-kept"
    assert written["AUDIT_KEY"] and written["DEMO_PASSWORD"]
    before = env.read_text()
    make_env(env)
    assert env.read_text() == before
