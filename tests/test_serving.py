"""The documented production command serves the registry (gunicorn with gunicorn.conf.py)."""

import os
import time

import pytest
import requests

from tests.processes import free_port, start_process


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL")}
    env |= {
        "ENV_FILE": str(tmp_path / "no.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        # Static storage without a manifest: the tests do not run collectstatic.
        "TESTING": "true",
    }
    log = tmp_path / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = start_process(
            ["-m", "gunicorn", "vccregistry.wsgi", "-c", "gunicorn.conf.py"],
            env=env,
            ready_url=base + "/accounts/login/",
            what="gunicorn",
            stdout=out,
        )
    try:
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_production_command_serves_the_login_page_with_security_headers(gunicorn):
    base, _ = gunicorn
    response = requests.get(base + "/accounts/login/", timeout=5)
    assert response.status_code == 200
    assert "Log in" in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_access_log_leaves_query_strings_out(gunicorn):
    base, log = gunicorn
    requests.get(base + "/accounts/login/?access_token=canary-in-a-query-0000", timeout=5)
    time.sleep(0.2)
    written = log.read_text()
    assert '"GET /accounts/login/ HTTP/1.1" 200' in written
    assert "canary-in-a-query" not in written
