"""The canary secret appears nowhere but in the request to the token endpoint (L1, L2, L4)."""

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs

import pytest
import requests
from django.contrib import admin
from django.core import mail
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client
from django.urls import NoReverseMatch, path, reverse
from django.views.debug import ExceptionReporter

from payments.log_filters import RedactSecretsFilter, SecretsExceptionReporterFilter
from payments.models import ApiCredential, VccAccount
from payments.redaction import redact_text
from payments.services.vcc_clients import vcc_client_for
from payments.vcc.client import TOKEN_PATH

pytestmark = pytest.mark.django_db

SECRET = "canary-secret-4d2e9a-leak-check"
ACCESS_TOKEN = "canary-access-token-77f1c0"
AGENT_ACCESS = "canary-agent-access-0b3d"
AGENT_REFRESH = "canary-agent-refresh-9c8e"
CANARIES = (SECRET, ACCESS_TOKEN, AGENT_ACCESS, AGENT_REFRESH)


def assert_no_canary(text: str):
    leaked = [canary for canary in CANARIES if canary in text]
    assert not leaked, f"leaked {leaked}"


class StandInVcc(BaseHTTPRequestHandler):
    """The token endpoint and the session endpoints, answering like VCC (or echoing, L4)."""

    echo_secret_on_token_error = False
    token_requests: list[dict] = []

    def log_message(self, *args):  # keep the stand-in quiet: the test reads the app's logs
        pass

    def _answer(self, status: int, payload: dict):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        if self.path == TOKEN_PATH:
            form = {key: values[0] for key, values in parse_qs(body).items()}
            type(self).token_requests.append(form)
            if self.echo_secret_on_token_error:
                return self._answer(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": f"client_secret={form['client_secret']} "
                        f"for client_id {form['client_id']} is not accepted",
                    },
                )
            return self._answer(
                200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
            )
        if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return self._answer(401, {"message": "unauthorised"})
        return self._answer(
            200,
            {
                "sessionGuid": "4f6c2a10-0000-4000-8000-000000000001",
                "iframeUrl": f"http://127.0.0.1:{self.server.server_port}/agent",
                "agentAccessToken": AGENT_ACCESS,
                "agentRefreshToken": AGENT_REFRESH,
            },
        )

    def do_GET(self):
        if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return self._answer(401, {"message": "unauthorised"})
        return self._answer(
            200,
            {
                "sessionGuid": self.path.rsplit("/", 1)[-1],
                "sessionState": "Finished",
                "decision": "Accept",
            },
        )


@pytest.fixture
def stand_in_vcc():
    StandInVcc.token_requests = []
    StandInVcc.echo_secret_on_token_error = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInVcc)
    # A short poll keeps shutdown() quick (the default 0.5 s poll cost each test half a second).
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def credential(demo, stand_in_vcc):
    account = VccAccount.objects.get(name="Sandbox")
    VccAccount.objects.filter(pk=account.pk).update(
        auth_base_url=stand_in_vcc, payment_base_url=stand_in_vcc
    )
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    credential.set_secret(SECRET)
    credential.save()
    return ApiCredential.objects.get(pk=credential.pk)


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "payments", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def everything_logged(caplog) -> str:
    """What every handler would write: messages, arguments and tracebacks."""
    formatter = logging.Formatter("%(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


# --- L1: a full token and session flow at DEBUG ----------------------------------------


def test_token_and_session_flow_at_debug_logs_no_secret(credential, debug_logs):
    """At DEBUG, a token and session flow logs no secret, token or header (TEST_PLAN L1)."""
    client = vcc_client_for(credential)
    session = client.create_agent_assist_session(
        payment_data={"Amount": "12.40", "Currency": "GBP"},
        agent_id="agent1234",
        account_configuration_id=1,
    )
    status = client.get_session(session.session_guid)
    assert status.session_state == "Finished"
    assert StandInVcc.token_requests[0]["client_secret"] == SECRET  # it did go to VCC
    logged = everything_logged(debug_logs)
    assert "127.0.0.1" in logged  # urllib3 did log at DEBUG
    assert_no_canary(logged)
    assert "Bearer " + ACCESS_TOKEN not in logged
    assert_no_canary(repr(client) + repr(session) + str(session))


def test_records_logging_secrets_reach_every_handler_redacted(debug_logs):
    """A careless log line is redacted before any handler writes it (TEST_PLAN L1)."""
    logger = logging.getLogger("payments.vcc")
    logger.debug("POST token form grant_type=client_credentials&client_secret=%s", SECRET)
    logger.debug("headers %r", {"Authorization": f"Bearer {ACCESS_TOKEN}"})
    logger.info(
        "session %s", {"agentAccessToken": AGENT_ACCESS, "agentRefreshToken": AGENT_REFRESH}
    )
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    for record in debug_logs.records:
        handler.handle(record)
    assert_no_canary(stream.getvalue())
    assert_no_canary(everything_logged(debug_logs))
    assert stream.getvalue().count("[redacted]") == 4


def test_root_handlers_carry_the_redacting_filter():
    """Every handler the settings configure carries the redacting filter (TEST_PLAN L1)."""
    handlers = logging.getLogger().handlers + logging.getLogger("django").handlers
    ours = [h for h in handlers if type(h).__module__.startswith(("logging", "django.utils.log"))]
    assert ours
    assert all(any(isinstance(f, RedactSecretsFilter) for f in h.filters) for h in ours)


def test_tracebacks_in_logs_are_redacted(debug_logs):
    """A secret in an exception message is redacted in the logged traceback (TEST_PLAN L1)."""
    try:
        raise ValueError(f"token endpoint said client_secret={SECRET}")
    except ValueError:
        logging.getLogger("payments.vcc").exception("token request failed")
    record = debug_logs.records[-1]
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.handle(record)
    assert "token endpoint said client_secret=[redacted]" in stream.getvalue()
    assert_no_canary(stream.getvalue())


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        ("client_id=x&client_secret=s3cr%21t&scope=globalpci", "client_secret=[redacted]&scope"),
        ('{"access_token": "eyJ hbG", "expires_in": 300}', '"access_token": "[redacted]"'),
        ("{'agentRefreshToken': 'abc'}", "'agentRefreshToken': '[redacted]'"),
        ("X-BEARER-TOKEN: abc", "X-BEARER-TOKEN: [redacted]"),
        ("stored gAAAAABnR0l2c3RvcmVkX2NpcGhlcnRleHQ= here", "stored [redacted] here"),
    ],
)
def test_redaction_of_realistic_lines(line, expected):
    """Realistic log and error lines come out of the redactor cleaned (TEST_PLAN L1, L4)."""
    assert expected in redact_text(line)


# --- L4: provider error bodies ----------------------------------------------------------


def test_provider_error_echoing_the_secret_is_never_logged_or_raised(credential, debug_logs):
    """A VCC error body echoing our client id and secret is redacted (TEST_PLAN L4)."""
    StandInVcc.echo_secret_on_token_error = True
    client = vcc_client_for(credential)
    with pytest.raises(Exception) as raised:
        client.verify_credentials()
    assert_no_canary(str(raised.value) + repr(raised.value))
    assert_no_canary(everything_logged(debug_logs))


# --- L2: the 500 page and the error e-mail ----------------------------------------------


def explode_inside_the_client(request):
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    vcc_client_for(credential).verify_credentials()
    return HttpResponse("unreachable")


urlpatterns = [path("explode/", explode_inside_the_client)]


@pytest.fixture
def exploding_client(credential, monkeypatch, settings):
    """An unexpected error deep in the client, with the token form in the frames' locals."""

    def connection_pool_exploded(self, method, url, **kwargs):
        raise RuntimeError("connection pool exploded")

    monkeypatch.setattr(requests.Session, "request", connection_pool_exploded)
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    settings.ADMINS = [("Operations", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return Client(raise_request_exception=False)


def test_500_page_is_generic_and_has_no_secret(exploding_client):
    """The 500 page is generic: no traceback and no secret (TEST_PLAN L2)."""
    response = exploding_client.get("/explode/")
    assert response.status_code == 500
    assert_no_canary(response.content.decode())
    assert "Traceback" not in response.content.decode()


def test_error_email_has_no_secret_and_cleansed_settings(exploding_client):
    """The error e-mail's text and HTML parts never carry the secret (TEST_PLAN L2)."""
    exploding_client.get("/explode/")
    [message] = mail.outbox
    parts = [message.body, *(content for content, _ in getattr(message, "alternatives", []))]
    report = "\n".join(parts)
    assert "connection pool exploded" in report
    assert_no_canary(report)
    assert "FIELD_ENCRYPTION_KEY = '********************'" in report
    assert "SECRET_KEY = '********************'" in report


def test_html_error_report_cleanses_locals_holding_the_secret(exploding_client, rf):
    """HTML error reports cleanse every frame's locals that hold the secret (TEST_PLAN L2)."""
    request = rf.get("/explode/")
    try:
        explode_inside_the_client(request)
    except RuntimeError:
        exc_info = sys.exc_info()
    reporter = ExceptionReporter(request, *exc_info)
    reporter.filter = SecretsExceptionReporterFilter()
    html = reporter.get_traceback_html()
    assert "connection pool exploded" in html
    assert "_fetch_token" in html  # the frames that held the secret are in the report
    assert_no_canary(html)
    assert_no_canary(reporter.get_traceback_text())


def test_settings_named_like_secrets_are_cleansed(settings):
    """Settings named like keys, tokens or passwords are masked in reports (TEST_PLAN L2)."""
    settings.VCC_WEBHOOK_TOKEN = SECRET
    safe = SecretsExceptionReporterFilter().get_safe_settings()
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "VCC_WEBHOOK_TOKEN", "DEMO_PASSWORD"):
        assert safe[name] == "********************", name
    assert_no_canary(json.dumps(safe, default=str))


# --- The canary across every admin page and dumpdata -------------------------------------


def admin_urls(model, model_admin) -> list[str]:
    info = (model._meta.app_label, model._meta.model_name)
    urls = [reverse("admin:{}_{}_changelist".format(*info))]
    try:
        urls.append(reverse("admin:{}_{}_add".format(*info)))
    except NoReverseMatch:
        pass
    for pk in model._default_manager.values_list("pk", flat=True)[:20]:
        for view in ("change", "history", "delete"):
            try:
                urls.append(reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[pk]))
            except NoReverseMatch:
                pass
    return urls


def test_no_admin_page_shows_the_secret(admin_client, credential):
    """No admin page of any model shows the secret or finds it by search (TEST_PLAN H1, H4, H5)."""
    client = vcc_client_for(credential)
    client.create_agent_assist_session(payment_data={"Amount": "1.00"}, agent_id="a1")
    data = {"client_secret": "rotated-" + SECRET, "change_reason": "rotation"}
    change = reverse("admin:payments_apicredential_change", args=[credential.pk])
    form = admin_client.get(change).context["adminform"].form
    data |= {name: form[name].value() or "" for name in ("account", "label", "client_id")}
    data |= {"allowed_environments": credential.allowed_environments, "is_enabled": "on"}
    assert admin_client.post(change, data).status_code == 302
    visited = 0
    for model, model_admin in admin.site._registry.items():
        for url in admin_urls(model, model_admin):
            response = admin_client.get(url)
            assert response.status_code in (200, 302, 403), url
            assert_no_canary(response.content.decode())
            visited += 1
        if model_admin.search_fields:
            # The search box echoes what was typed; the secret must match nothing.
            changelist = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
            )
            response = admin_client.get(changelist, {"q": SECRET})
            assert response.context["cl"].result_count == 0, model
    assert visited > 40


def test_dumpdata_of_everything_has_no_secret(credential):
    """dumpdata of every app holds no secret (TEST_PLAN E10)."""
    out = StringIO()
    call_command("dumpdata", stdout=out)
    assert_no_canary(out.getvalue())
    assert "gAAAA" not in out.getvalue()


def test_error_email_hides_posted_secrets(exploding_client):
    """A secret posted to a form that then failed is masked in the report (TEST_PLAN L2)."""
    posted = {"client_secret": SECRET, "credentials-0-client_secret": SECRET, "label": "A"}
    exploding_client.post("/explode/", posted)
    [message] = mail.outbox
    report = "\n".join([message.body, *(c for c, _ in getattr(message, "alternatives", []))])
    assert "credentials-0-client_secret" in report
    assert_no_canary(report)
