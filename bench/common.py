"""Shared set-up for the benchmarks: a scratch database, the demo data, timing helpers."""

import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(workdir: Path, *, migrate: bool = True) -> None:
    """Point Django at a scratch SQLite database in workdir and migrate it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vccregistry.settings")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "NTW4GpBju33d7lof80-OxWN5hDdNmlZsXko2SoclOeg=")
    os.environ["ENV_FILE"] = str(workdir / "no.env")
    os.environ["TESTING"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import warnings

    import django

    warnings.filterwarnings("ignore", "No directory at")  # static files are not served here
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="vccregistry-bench-"))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
