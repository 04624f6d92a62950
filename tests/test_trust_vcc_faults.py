"""VCC faults at the token step and under a brownout: right outcome, bounded calls (issue 14)."""

import pytest
from django.contrib.auth.models import User

from payments.models import LaunchOutcome, SessionKind
from payments.services import session_launch
from tests.conftest import point_accounts_at, provision_from_registry
from tests.launch_support import demo_link

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
