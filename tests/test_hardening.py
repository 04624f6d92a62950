"""HTTP hardening, login lockout and sessions (X1, X2, X4, X5, B1, B3, B4, U5)."""

import json
import os
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import AuditEvent, AuditOutcome, VccAccount
from tests.factories import UserFactory
from tests.processes import ROOT, run_python

PASSWORD = "correct horse battery"
LOCKED = "This account is locked after 10 failed log-ins"


# --- X5, X4: production settings -------------------------------------------------------


def production_env(**overrides) -> dict:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE would (rightly) fail the deploy check.
    test_only = ("DEBUG", "TESTING", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    env |= {
        "DJANGO_SETTINGS_MODULE": "vccregistry.settings",
        "ENV_FILE": str(ROOT / "tests" / "no-such.env"),
        "DEBUG": "false",
        "HTTPS": "true",
        "SECRET_KEY": "x7Gq2-production-like-secret-key-Yb9vN3kLm0Pq8Rs5Tu1Wx4Za6Cd",
        "FIELD_ENCRYPTION_KEY": "d2HYHtphTWxCtrZy6zYZWts3DnGPRNuM_4YlWkmz0B0=",
        "ALLOWED_HOSTS": "registry.example.com",
    }
    env |= overrides
    return {k: v for k, v in env.items() if v is not None}


def test_deploy_check_is_clean_with_production_settings():
    """`manage.py check --deploy --fail-level WARNING` passes in production (TEST_PLAN X5)."""
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_fails_when_https_is_not_declared():
    """Without HTTPS=true the deploy check reports HSTS, redirect, cookies (TEST_PLAN X5)."""
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(HTTPS=None)
    )
    assert result.returncode != 0
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in result.stderr


HEADERS_SCRIPT = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/accounts/login/", secure=True, HTTP_HOST="registry.example.com")
cookies = {name: bool(morsel["secure"]) for name, morsel in response.cookies.items()}
print(json.dumps({"status": response.status_code, "cookies": cookies, **dict(response.headers)}))
"""


def test_production_responses_carry_hsts_and_secure_cookies():
    """Production settings answer with HSTS and secure cookies (TEST_PLAN X4)."""
    # TESTING only swaps in static storage without a manifest (tests do not collectstatic).
    result = run_python(["-c", HEADERS_SCRIPT], production_env(TESTING="true"))
    assert result.returncode == 0, result.stderr
    headers = json.loads(result.stdout.strip().splitlines()[-1])
    assert headers["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["cookies"] == {"csrftoken": True}


def test_proxy_header_is_trusted_only_when_configured():
    script = "import django; django.setup(); from django.conf import settings; "
    script += "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    assert run_python(["-c", script], production_env()).stdout.strip() == "None"
    trusted = production_env(TRUSTED_PROXY_SETS_X_FORWARDED_PROTO="true")
    assert "HTTP_X_FORWARDED_PROTO" in run_python(["-c", script], trusted).stdout


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/", "/admin/login/", "/accounts/login/"])
def test_pages_deny_framing_and_carry_a_strict_csp(admin_client, url):
    """Every page denies framing and carries a CSP without unsafe-inline (TEST_PLAN X4)."""
    response = admin_client.get(url)
    assert response["X-Frame-Options"] == "DENY"
    header = response["Content-Security-Policy"]
    policy = dict(directive.strip().split(" ", 1) for directive in header.split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "http://127.0.0.1:8100" in policy["frame-src"]
    assert "unsafe-inline" not in header


# --- X1, X2: CSRF and methods ------------------------------------------------------------


@pytest.mark.django_db
def test_admin_post_without_csrf_token_is_refused(admin_user, demo):
    """An admin POST without the CSRF token is refused and changes nothing (TEST_PLAN X1)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    account = VccAccount.objects.get(name="Sandbox")
    url = reverse("admin:payments_vccaccount_change", args=[account.pk])
    response = client.post(url, {"name": "Hijacked", "kind": "sandbox", "region": "emea"})
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.name == "Sandbox"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_login_without_csrf_token_is_refused(url):
    """A sign-in POST without the CSRF token is refused: no login CSRF (TEST_PLAN X1)."""
    UserFactory(username="ann").set_password(PASSWORD)
    response = Client(enforce_csrf_checks=True).post(url, {"username": "ann", "password": "x"})
    assert response.status_code == 403


@pytest.mark.django_db
def test_admin_logout_by_get_is_refused(admin_client):
    """Signing out needs a POST: a GET changes no state (TEST_PLAN X2)."""
    assert admin_client.get("/admin/logout/").status_code == 405
    assert admin_client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_delete_by_get_only_asks_for_confirmation(admin_client, demo):
    """A GET on the delete URL only asks for confirmation; nothing is deleted (TEST_PLAN X2)."""
    account = VccAccount.objects.get(name="Sandbox")
    response = admin_client.get(reverse("admin:payments_vccaccount_delete", args=[account.pk]))
    assert response.status_code == 200
    assert VccAccount.objects.filter(pk=account.pk).exists()


# --- B1, U5: lockout and failed-login audit --------------------------------------------


@pytest.fixture
def ann(db):
    user = UserFactory(username="ann", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, username="ann", password=PASSWORD, url="/accounts/login/", ip="10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail_ten_times(client, ips=("10.0.0.1",)):
    for attempt in range(10):
        log_in(client, password=f"wrong-{attempt}", ip=ips[attempt % len(ips)])


def test_failed_login_is_audited_without_the_password(client, ann):
    """A failed sign-in is audited (PCI DSS 10.2.1.4), never with the password (TEST_PLAN U5)."""
    response = log_in(client, password="Wrong-password-visible?")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.outcome == AuditOutcome.FAILURE
    assert event.object_repr == "ann"
    assert event.origin == "10.0.0.1"
    assert "Wrong-password" not in json.dumps([event.reason, event.before, event.after])


def test_login_and_logout_are_audited_with_who_and_where(client, ann):
    """PCI DSS 10.2.1: successful sign-ins are recorded too, never with the password."""
    response = log_in(client, url="/admin/login/?next=/admin/", ip="10.0.0.7")
    assert response.status_code == 302
    login = AuditEvent.objects.get(action="auth.login")
    assert (login.actor, login.outcome, login.origin) == (ann, AuditOutcome.SUCCESS, "10.0.0.7")
    assert login.object_repr == "ann"
    assert PASSWORD not in json.dumps([login.reason, login.before, login.after])
    client.post("/accounts/logout/", REMOTE_ADDR="10.0.0.7")
    assert AuditEvent.objects.get(action="auth.logout").actor == ann


def test_logging_out_when_not_logged_in_records_nothing(client, db):
    client.post("/accounts/logout/")
    assert not AuditEvent.objects.filter(action__startswith="auth.").exists()


def test_overlong_username_is_refused_not_crashed_on(client, ann):
    """Bad input: Django's login form lets any length through to authenticate()."""
    username = "https://" + "a" * 300 + ".example"
    assert log_in(client, username=username).status_code == 200
    [attempt] = AccessAttempt.objects.all()
    assert attempt.username == username[:150]


def test_nine_failures_do_not_lock(client, ann):
    """Nine failed sign-ins do not lock: the limit is ten (TEST_PLAN B1)."""
    for attempt in range(9):
        log_in(client, password=f"wrong-{attempt}")
    assert log_in(client).status_code == 302


def test_ten_failures_lock_even_the_correct_password(client, ann):
    """After ten failures even the correct password is refused with 429 (TEST_PLAN B1)."""
    fail_ten_times(client)
    response = log_in(client)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_across_rotating_addresses(client, ann):
    """Changing IP address does not escape a username's lockout (TEST_PLAN B1)."""
    fail_ten_times(client, ips=[f"10.0.{n}.9" for n in range(10)])
    assert log_in(client, ip="192.0.2.77").status_code == 429
    other = UserFactory(username="bob")
    other.set_password(PASSWORD)
    other.save()
    assert log_in(client, username="bob").status_code == 302


def test_lockout_lasts_at_least_thirty_minutes(client, ann):
    """A lockout still holds after 29 minutes and is lifted after 31 (TEST_PLAN B1)."""
    fail_ten_times(client)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=29))
    assert log_in(Client()).status_code == 429
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=31))
    assert log_in(Client()).status_code == 302


def test_lockout_is_audited(client, ann):
    """A lockout writes an audit row (TEST_PLAN B1, U5)."""
    fail_ten_times(client)
    event = AuditEvent.objects.filter(action="auth.locked_out").first()
    assert event is not None
    assert event.outcome == AuditOutcome.DENIED
    assert event.object_repr == "ann"
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 10


def test_admin_login_shows_the_lockout_message(client, ann):
    """The admin's own sign-in page explains the lockout (TEST_PLAN B1)."""
    fail_ten_times(client)
    response = log_in(client, url="/admin/login/")
    html = response.content.decode()
    assert response.status_code == 429
    assert LOCKED in html
    assert 'id="login-form"' in html


# --- B3, B4: idle sessions and session fixation ----------------------------------------


@pytest.fixture
def later(monkeypatch):
    """Move the clock forward for everything that asks django.utils.timezone.now()."""
    real_now = timezone.now

    def move(minutes: int):
        monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(minutes=minutes))

    return move


def test_idle_session_expires_after_fifteen_minutes(client, ann, later):
    """After 16 idle minutes the next request is sent to sign in (TEST_PLAN B3)."""
    assert log_in(client).status_code == 302
    assert client.get("/").status_code == 200
    later(16)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_activity_keeps_the_session_alive(client, ann, later):
    """The idle timeout counts from the last request, not from sign-in (TEST_PLAN B3)."""
    log_in(client)
    later(10)
    assert client.get("/").status_code == 200
    later(20)
    assert client.get("/").status_code == 200


def test_session_id_changes_at_login(client, ann):
    """Signing in issues a new session id (TEST_PLAN B4)."""
    client.get("/accounts/login/")
    session = client.session
    session["before_login"] = True
    session.save()
    before = client.cookies["sessionid"].value
    assert log_in(client).status_code == 302
    after = client.cookies["sessionid"].value
    assert after != before
    assert User.objects.get(pk=client.session["_auth_user_id"]) == ann
