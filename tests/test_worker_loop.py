"""`manage.py registry_worker` without --once, as a deployment runs it: a separate process that
loops, delivers what is due, and stops promptly and cleanly on SIGTERM."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.processes import ROOT, run_python

SETUP = """
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from payments.models import Delivery, DeliveryChannel, Notification, PeriodicJob
later = timezone.now() + timedelta(days=1)
# Only the delivery sweep is due: the other periodic jobs would call VCC.
for name in ("credentials_check", "links_probe_staging", "schedules_apply"):
    PeriodicJob.objects.create(name=name, next_run_at=later)
ann = User.objects.create_user("ann", email="ann@example.com")
note = Notification.objects.create(
    action="promotion.approved", subject="Promotion #7 approved", body="It was approved.",
    link="http://127.0.0.1:8000/promotions/7/",
)
Delivery.objects.create(
    notification=note, channel=DeliveryChannel.EMAIL, recipient=ann,
    next_attempt_at=timezone.now(),
)
"""


@pytest.fixture
def worker_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL")}
    env |= {
        "ENV_FILE": str(tmp_path / "no.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        # django-environ drops the path's first slash: four make an absolute directory.
        "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}",
        "AUDIT_DIGEST_DIR": str(tmp_path / "digests"),
        "TESTING": "true",
    }
    for args in (["manage.py", "migrate", "--no-input"], ["manage.py", "shell", "-c", SETUP]):
        done = run_python(args, env)
        assert done.returncode == 0, done.stderr
    return env


def delivery_state(database) -> str:
    with sqlite3.connect(database) as connection:
        [(state,)] = connection.execute("SELECT state FROM payments_delivery").fetchall()
    return state


def test_registry_worker_loop_delivers_then_stops_cleanly_on_sigterm(worker_env, tmp_path):
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "registry_worker", "--interval", "0.2"],
            cwd=ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60  # a busy machine boots Django slowly
        while time.monotonic() < deadline and delivery_state(tmp_path / "worker.sqlite3") != "sent":
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
        assert delivery_state(tmp_path / "worker.sqlite3") == "sent", log.read_text()

        stopping = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        returncode = worker.wait(timeout=10)
        took = time.monotonic() - stopping
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert returncode == 0, log.read_text()
    assert took < 5, f"took {took:.1f} s to stop"
    assert "registry_worker stopped." in log.read_text()
    # The worker signed the chain's head where it was told to, not into the checkout's var/.
    assert list((tmp_path / "digests").glob("audit-digest-*.json")), log.read_text()
    [mail] = list((tmp_path / "mail").iterdir())
    text = mail.read_text()
    assert "To: ann@example.com" in text and "Promotion #7 approved" in text
