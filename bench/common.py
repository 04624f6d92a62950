"""Shared set-up for the benchmarks: a scratch database, the demo data, timing helpers."""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def setup_django(workdir: Path, *, database_url: str = "", migrate: bool = True) -> None:
    """Point Django at a scratch database and migrate it.

    The default is a SQLite file in workdir; a PostgreSQL URL names a database that is dropped
    and created afresh (the benchmark's own, never one that holds data).
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vccregistry.settings")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    if database_url and migrate:
        _recreate_postgres_database(database_url)
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "NTW4GpBju33d7lof80-OxWN5hDdNmlZsXko2SoclOeg=")
    os.environ.setdefault("AUDIT_KEY", "q0Zp2oYw1xk7Jc3H9v4mN8tR6sL5uE1aB2dF3gH4iJ0=")
    os.environ["ENV_FILE"] = str(workdir / "no.env")
    # Not the checkout's var/audit-digests: a demo there would find digests it cannot verify.
    os.environ["AUDIT_DIGEST_DIR"] = str(workdir / "audit-digests")
    os.environ["TESTING"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import warnings

    import django

    warnings.filterwarnings("ignore", "No directory at")  # static files are not served here
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def _recreate_postgres_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.startswith("vccregistry_bench"):
        raise SystemExit(
            f"--database-url must name a database called vccregistry_bench..., not {name!r}: "
            "the benchmark drops and recreates it."
        )
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="vccregistry-bench-"))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_process(
    args: list[str], *, env: dict, ready_url: str, what: str, stdout=None
) -> subprocess.Popen:
    """Start `python ARGS` in the project and return once ready_url answers (60 s at most).

    Its output goes to `stdout` (a file) when given, else nowhere.
    """
    import requests

    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=stdout or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if stdout else subprocess.DEVNULL,
    )
    ready_by = time.monotonic() + 60  # a busy machine boots slowly
    while time.monotonic() < ready_by and process.poll() is None:
        try:
            requests.get(ready_url, timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    process.wait(timeout=20)
    raise RuntimeError(f"{what} did not start within 60 s.")
