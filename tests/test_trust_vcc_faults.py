"""VCC faults at the token step and under a brownout: right outcome, bounded calls (issue 14)."""

import time

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse

from payments.models import LaunchOutcome, SessionKind
from payments.services import session_launch
from tests.conftest import point_accounts_at, provision_from_registry
from tests.launch_support import demo_link
from tests.threads import postgres_only, run_together

pytestmark = pytest.mark.django_db

PAYMENT = {"Amount": "12.40", "Currency": "GBP", "MerchantReferenceCode": "REF-1"}


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


def launch():
    return session_launch(
        link=demo_link("Sandbox", 1),
        launched_by=User.objects.get(username="agent"),
        kind=SessionKind.AGENT_ASSIST,
        payment_data=dict(PAYMENT),
    )


def complete(server, session_guid: str, decision: str = "ACCEPT") -> None:
    answer = requests.post(
        f"{server.url}/_emulator/sessions/{session_guid}/complete",
        json={"decision": decision},
        timeout=5,
    )
    answer.raise_for_status()


# --- A malformed token answer: nothing was created, so the launch failed ---------------------


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ({"body": "html"}, "an HTML page"),
        ({"body": "malformed"}, "not JSON"),
        ({"body": "empty"}, "has no access_token"),
        ({"status": 302, "location": "https://login.example.invalid/sso"}, "login.example.invalid"),
    ],
)
def test_malformed_token_answer_is_a_failed_launch_saying_what_vcc_answered(emulator, fault, said):
    emulator.faults.inject("token", **fault)
    result = launch()
    assert emulator.stats.session_creates == 0
    assert result.session.outcome == LaunchOutcome.FAILED
    assert said in result.session.error
    assert "No session was requested" in result.session.error


def test_token_that_is_not_a_bearer_token_is_a_failed_launch(emulator):
    emulator.faults.token_type = "MAC"
    result = launch()
    assert emulator.stats.session_creates == 0
    assert result.session.outcome == LaunchOutcome.FAILED
    assert "is not a bearer token" in result.session.error


def test_malformed_answer_to_the_create_itself_stays_unknown(emulator):
    # The create was sent: VCC may have made the session, so this one is never "failed".
    emulator.faults.inject("create", body="html")
    result = launch()
    assert emulator.stats.session_creates == 1
    assert result.session.outcome == LaunchOutcome.UNKNOWN


# --- Brownout: one status read per session, one token fetch, remembered briefly --------------


def _poll(session_pk: int):
    client = Client()
    client.force_login(User.objects.get(username="agent"))
    return client.get(reverse("payments:session_status", args=[session_pk])).json()


def test_three_polls_while_vcc_fails_make_one_status_read(emulator, settings):
    session = launch().session
    emulator.faults.inject("read", status=503)
    answers = [_poll(session.pk) for _ in range(3)]
    # Before: every poll made its own read and retries, 3 × (1 + VCC_MAX_RETRIES) requests.
    assert emulator.stats.session_reads == 1 + settings.VCC_MAX_RETRIES
    assert all("VCC" in answer["message"] for answer in answers)
    assert all(not answer["finished"] for answer in answers)


def test_status_read_is_asked_again_once_the_failure_is_forgotten(emulator, settings):
    settings.VCC_STATUS_FAILURE_CACHE = 0.3
    session = launch().session
    emulator.faults.inject("read", status=503, times=1 + settings.VCC_MAX_RETRIES)
    assert "VCC" in _poll(session.pk)["message"]
    time.sleep(1.1)  # the cache's own expiry is whole seconds
    complete(emulator, session.session_guid)
    answer = _poll(session.pk)
    assert (answer["message"], answer["decision"]) == ("", "ACCEPT")


@postgres_only  # SQLite's shared in-memory test database locks whole tables between threads
def test_six_concurrent_polls_of_a_slow_vcc_make_one_status_read(emulator):
    session = launch().session
    emulator.faults.inject("read", hang=1.0)

    def poll(_index):
        try:
            return _poll(session.pk)
        finally:
            connection.close()

    outcomes = run_together(6, poll)
    assert [outcome.error for outcome in outcomes] == [None] * 6
    # Before: 6 reads, each holding a web worker for the whole wait.
    assert emulator.stats.session_reads == 1


def test_twenty_launches_in_a_token_brownout_fetch_one_token(emulator, settings):
    settings.VCC_MAX_RETRIES = 2
    settings.VCC_TOKEN_FAILURE_CACHE = 30  # the 20 launches must fit in it on a slow machine
    emulator.faults.inject("token", status=503)
    results = [launch() for _ in range(20)]
    # Before: 20 × (1 + VCC_MAX_RETRIES) = 60 token requests.
    assert emulator.stats.token_requests == 1 + settings.VCC_MAX_RETRIES
    assert {result.session.outcome for result in results} == {LaunchOutcome.FAILED}
    assert emulator.stats.session_creates == 0


def test_failed_token_fetch_is_forgotten_after_the_failure_cache(emulator, settings):
    settings.VCC_TOKEN_FAILURE_CACHE = 0.3
    emulator.faults.inject("token", status=503, times=1 + settings.VCC_MAX_RETRIES)
    assert launch().session.outcome == LaunchOutcome.FAILED
    time.sleep(1.1)
    assert launch().session.outcome == LaunchOutcome.CREATED


def test_refused_credentials_are_not_remembered_as_a_brownout(emulator):
    emulator.faults.invalid_client = True
    assert launch().session.outcome == LaunchOutcome.FAILED
    emulator.faults.invalid_client = False
    assert launch().session.outcome == LaunchOutcome.CREATED
