"""Sessions and webhooks keep their truth: final is final, no future stamps, no bad characters."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from payments.services import session_apply_status
from payments.vcc.client import SessionStatus
from tests.launch_support import recorded_session, status_body

pytestmark = pytest.mark.django_db

TOKEN = "webhook-token-for-tests-7f3a"
URL = "/vcc/webhook/"
FAR_FUTURE = "2999-01-01T00:00:00Z"


@pytest.fixture
def session(demo, settings):
    settings.VCC_WEBHOOK_TOKEN = TOKEN
    return recorded_session()


def _post(client, body):
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def _stamp(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat().replace("+00:00", "Z")


def _later(session, decision: str, stamp) -> dict:
    body = status_body(session.session_guid, decision=decision)
    if stamp is None:
        del body["lastUpdatedOn"]
    else:
        body["lastUpdatedOn"] = stamp
    return body


@pytest.mark.parametrize(
    "stamp", ["2026-02-23T09:27:37.561413Z", None, "garbage", FAR_FUTURE, "now+1s"]
)
def test_webhook_after_finished_never_changes_the_decision(client, session, stamp):
    assert _post(client, status_body(session.session_guid)).status_code == 200
    if stamp == "now+1s":
        stamp = _stamp(timedelta(seconds=1))
    for decision in ["DECLINE", "ACCEPT", "REVIEW", "ERROR"]:
        assert _post(client, _later(session, decision, stamp)).status_code in (200, 400)
        session.refresh_from_db()
        assert (session.session_state, session.decision) == ("Finished", "ACCEPT")


def test_webhook_far_future_timestamp_is_refused_and_later_statuses_still_apply(client, session):
    future = status_body(
        session.session_guid, state="Started", decision="", lastUpdatedOn=FAR_FUTURE
    )
    response = _post(client, future)
    assert response.status_code == 400
    assert "in the future" in response.json()["error"]
    session.refresh_from_db()
    assert session.session_state == ""
    genuine = status_body(session.session_guid, lastUpdatedOn=_stamp(timedelta(seconds=-1)))
    assert _post(client, genuine).status_code == 200
    session.refresh_from_db()
    assert (session.session_state, session.decision) == ("Finished", "ACCEPT")


def test_status_within_the_clock_skew_is_accepted(client, session, settings):
    settings.VCC_STATUS_MAX_CLOCK_SKEW = 120
    body = status_body(session.session_guid, lastUpdatedOn=_stamp(timedelta(seconds=60)))
    assert _post(client, body).status_code == 200
    session.refresh_from_db()
    assert session.decision == "ACCEPT"


def test_polled_status_far_in_the_future_is_refused_by_the_service(session):
    body = status_body(session.session_guid, lastUpdatedOn=FAR_FUTURE)
    with pytest.raises(ValidationError) as info:
        session_apply_status(status=SessionStatus.from_payload(body), source="poll")
    assert info.value.code == "future_timestamp"
    session.refresh_from_db()
    assert session.decision == ""


@pytest.mark.parametrize(
    "where",
    [
        {"sessionState": "Fin\u0000ished"},
        {"providerSessionGuid": "7d15\u0000"},
        {"paymentResultData": {"decision": "ACC\u0000EPT", "reasonCode": "100"}},
        {"paymentResultData": {"decision": "ACCEPT", "Amount": "12\ud800"}},
        {"paymentResultData": {"decision": "ACCEPT", "Note\u0000": "x"}},
        {"callGuid": "a\u0007b"},
    ],
)
def test_webhook_with_bad_characters_is_400_and_stores_nothing(client, session, where):
    body = {**status_body(session.session_guid), **where}
    response = _post(client, json.dumps(body))
    assert response.status_code == 400, response.content
    assert "cannot be stored" in response.json()["error"]
    session.refresh_from_db()
    assert (session.session_state, session.decision) == ("", "")
