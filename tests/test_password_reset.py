"""The anonymous password reset: off unless configured, audited when on, no traceback."""

import logging
import re
import smtplib

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from payments.models import AuditEvent, AuditOutcome
from payments.services.password_reset import address_digest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESET_URLS = [
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/MQ/set-password/",
    "/accounts/reset/done/",
]


class RefusingBackend:
    """An e-mail backend whose server refuses every message, as a dead SMTP relay does."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPConnectError(421, "relay unavailable")


@pytest.fixture
def enabled(settings):
    settings.PASSWORD_RESET_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def ann(db) -> User:
    return UserFactory(username="ann", email="ann@example.com")


def reset_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="auth.password_reset_requested").order_by("pk"))


@pytest.mark.parametrize("url", RESET_URLS)
def test_password_reset_urls_answer_404_by_default(url):
    assert Client().get(url).status_code == 404


def test_password_reset_post_when_off_sends_nothing_and_records_nothing(ann):
    response = Client().post("/accounts/password_reset/", {"email": "ann@example.com"})
    assert response.status_code == 404
    assert mail.outbox == []
    assert reset_events() == []


def test_login_page_offers_the_reset_link_only_when_enabled(settings):
    assert "/accounts/password_reset/" not in Client().get("/accounts/login/").content.decode()
    settings.PASSWORD_RESET_ENABLED = True
    page = Client().get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in page
    assert "Forgot your password?" in page


def test_password_reset_for_a_known_address_is_audited_with_the_username(enabled, ann):
    response = Client().post("/accounts/password_reset/", {"email": "ann@example.com"})
    assert response.status_code == 302
    assert response.url == "/accounts/password_reset/done/"
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    [event] = reset_events()
    assert event.outcome == AuditOutcome.SUCCESS
    assert (event.object_type, event.object_id, event.object_repr) == ("user", str(ann.pk), "ann")
    assert event.actor is None
    # The token in the mailed link never reaches the audit trail.
    token = re.search(r"/accounts/reset/[^/]+/([^/]+)/", message.body).group(1)
    stored = " ".join(str(v) for v in vars(event).values())
    assert token not in stored


def test_password_reset_for_an_unknown_address_records_its_digest_not_the_address(enabled):
    response = Client().post("/accounts/password_reset/", {"email": "Who@Example.com"})
    assert response.status_code == 302
    assert mail.outbox == []
    [event] = reset_events()
    stored = " ".join(str(v) for v in vars(event).values()).lower()
    assert "who@example.com" not in stored
    assert address_digest("who@example.com") in event.object_repr
    assert event.object_id == ""


def test_address_digest_is_keyed_and_case_blind(settings):
    digest = address_digest("ann@example.com")
    assert digest == address_digest(" Ann@Example.COM ")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert address_digest("ann@example.com") != digest


def test_password_reset_with_a_failing_mail_backend_tells_the_person_and_logs_one_line(
    enabled, ann, caplog
):
    enabled.EMAIL_BACKEND = "tests.test_password_reset.RefusingBackend"
    with caplog.at_level(logging.DEBUG):
        response = Client().post("/accounts/password_reset/", {"email": "ann@example.com"})
    assert response.status_code == 200
    assert "could not be sent just now" in response.content.decode()
    records = [r for r in caplog.records if "reset" in r.getMessage().lower()]
    assert [r.getMessage() for r in records] == ["Password reset e-mail not sent: SMTPConnectError"]
    assert all(r.exc_info is None for r in caplog.records)
    [event] = reset_events()
    assert event.outcome == AuditOutcome.FAILURE
    assert event.object_id == str(ann.pk)
    assert "could not be sent" in event.reason
