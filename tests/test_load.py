"""Concurrent launches through the real server (gunicorn on loopback) and the VCC emulator
as separate processes, as in a deployment; the emulator serves the world seed_demo wrote
(TEST_PLAN LD1, LD2)."""

import os
import sqlite3
import threading
import time

import pytest
import requests

from tests.processes import free_port, run_python, start_process

LAUNCHES = 50
BODY = {
    "account": "Sandbox",
    "configurationId": 1,
    "paymentData": {"Amount": "12.40", "Currency": "GBP"},
}

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="runs once, in the SQLite leg: the processes share a database file of their own",
)


def manage(env: dict, *args: str) -> str:
    return run_python(["manage.py", *args], env, check=True).stdout


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A migrated, seeded registry served by gunicorn, and the emulator on seed_demo's world."""
    tmp = tmp_path_factory.mktemp("load")
    emulator_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "CACHE_URL")}
    env |= {
        "ENV_FILE": str(tmp / "no.env"),
        "DATABASE_URL": f"sqlite:///{tmp / 'registry.sqlite3'}",
        "TESTING": "true",
        "LOG_LEVEL": "WARNING",
        "VCC_EMULATOR_WORLD": str(tmp / "vcc-emulator-world.json"),
    }
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "seed_demo", "--emulator-url", f"http://127.0.0.1:{emulator_port}")
    token = manage(env, "issue_api_token", "agent", "--name", "load test").strip()
    emulator = f"http://127.0.0.1:{emulator_port}"
    web = f"http://127.0.0.1:{web_port}"
    web_env = env | {
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": str(LAUNCHES // 2),
        "GUNICORN_ACCESS_LOG": "/dev/null",
    }
    processes = []
    try:
        processes.append(
            start_process(
                ["manage.py", "vcc_emulator", "--port", str(emulator_port), "--webhook-url", ""],
                env=env,
                ready_url=f"{emulator}/_emulator/stats",
                what="The VCC emulator",
            )
        )
        processes.append(
            start_process(
                ["-m", "gunicorn", "vccregistry.wsgi", "-c", "gunicorn.conf.py"],
                env=web_env,
                ready_url=f"{web}/accounts/login/",
                what="gunicorn",
            )
        )
        yield {"web": web, "emulator": emulator, "token": token, "db": tmp / "registry.sqlite3"}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def _control(deployment, path: str, payload: dict | None = None) -> dict:
    url = f"{deployment['emulator']}/_emulator/{path}"
    if payload is None:
        return requests.get(url, timeout=5).json()
    return requests.post(url, json=payload, timeout=5).json()


def _launch_together(deployment, count: int) -> list[requests.Response]:
    """Fire `count` launches released at the same moment; return the answers."""
    barrier = threading.Barrier(count)
    answers: list = [None] * count

    def launch(index: int) -> None:
        barrier.wait(timeout=30)
        answers[index] = requests.post(
            f"{deployment['web']}/api/v1/sessions",
            json=BODY,
            headers={"Authorization": f"Bearer {deployment['token']}"},
            timeout=(5, 60),
        )

    threads = [threading.Thread(target=launch, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert all(answer is not None for answer in answers), "a launch did not come back"
    return answers


def _sessions(deployment) -> list[tuple]:
    with sqlite3.connect(deployment["db"]) as database:
        return database.execute(
            "SELECT outcome, session_guid FROM payments_paymentsession ORDER BY id"
        ).fetchall()


def test_ld1_fifty_concurrent_launches_one_session_each_and_one_token(deployment):
    """50 launches at once, VCC at 100 ms: one session each, one token (TEST_PLAN LD1)."""
    _control(deployment, "reset", {})
    _control(deployment, "faults", {"latency_ms": 100})
    before = len(_sessions(deployment))
    started = time.monotonic()
    answers = _launch_together(deployment, LAUNCHES)
    elapsed = time.monotonic() - started
    assert [answer.status_code for answer in answers] == [201] * LAUNCHES, [
        answer.text[:200] for answer in answers if answer.status_code != 201
    ]
    guids = {answer.json()["sessionGuid"] for answer in answers}
    assert len(guids) == LAUNCHES
    stats = _control(deployment, "stats")
    assert stats["token_requests"] == 1
    assert stats["session_creates"] == LAUNCHES
    recorded = _sessions(deployment)[before:]
    assert len(recorded) == LAUNCHES
    assert {guid for _, guid in recorded} == guids
    assert elapsed < 60


def test_ld2_brownout_fails_fast_without_a_retry_storm_and_recovers(deployment):
    """VCC answering 503: bounded attempts, quick answers, then recovery (TEST_PLAN LD2)."""
    _control(deployment, "reset", {})
    _control(deployment, "faults", {"latency_ms": 0, "rules": [{"on": "any", "status": 503}]})
    launches = 20
    started = time.monotonic()
    answers = _launch_together(deployment, launches)
    elapsed = time.monotonic() - started
    login = requests.get(f"{deployment['web']}/accounts/login/", timeout=5)
    stats = _control(deployment, "stats")

    assert {answer.status_code for answer in answers} <= {503, 504}
    assert all(answer.json().get("detail") for answer in answers), answers[0].text
    # TEST_PLAN LD2: attempts <= retry budget x requests. A token fetch is tried at most
    # 1 + VCC_MAX_RETRIES times per launch, one process at a time; a create that may have
    # reached VCC is never retried: at most one attempt per launch.
    assert stats["token_requests"] <= 3 * launches
    assert stats["session_creates"] <= launches
    assert stats["sessions_created"] == 0
    assert elapsed < 30
    assert login.status_code == 200

    _control(deployment, "faults", {"clear": True})
    recovered = _launch_together(deployment, 1)[0]
    assert recovered.status_code == 201, recovered.text
