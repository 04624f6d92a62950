"""The agent's tokens go only to an allowed agent page host (issue 14, "trusts any iframeUrl")."""

import json
import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client

from payments.models import AuditEvent, AuditOutcome, LaunchOutcome
from payments.services.api_tokens import api_token_issue
from payments.vcc.agent_pages import agent_page_refusal
from tests.conftest import point_accounts_at, provision_from_registry
from tests.processes import ROOT, run_python
from tests.test_views_launch import launch_data

pytestmark = pytest.mark.django_db

LAUNCH = "/launch/"


@pytest.fixture
def emulator(demo, vcc_emulator):
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


@pytest.fixture
def emulator_elsewhere(emulator, settings):
    """VCC answers with an agent page on a host nobody allowed (the emulator, not configured)."""
    settings.VCC_EMULATOR_URL = ""
    return emulator


def _agent() -> Client:
    client = Client()
    client.force_login(User.objects.get(username="agent"))
    return client


# --- The rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://pay.example.com/agent/1", True),
        ("https://eu.agent.example.net/agent/1", True),
        ("https://example.net/agent/1", False),  # "*." is subdomains only
        ("https://evilexample.net/agent/1", False),
        ("http://pay.example.com/agent/1", False),  # the tokens never go in clear
        ("https://pay.example.com:8443/agent/1", False),
        ("https://pay.example.com@evil.example/agent/1", False),
        ("https://evil.example/?next=https://pay.example.com", False),
        ("javascript:alert(1)", False),
    ],
)
def test_agent_page_allowed_only_on_the_regions_hosts(settings, url, allowed):
    settings.VCC_AGENT_PAGE_HOSTS = {"emea": ["pay.example.com", "*.example.net"]}
    assert (agent_page_refusal(region="emea", iframe_url=url) is None) is allowed


def test_agent_page_host_of_another_region_is_refused(settings):
    settings.VCC_AGENT_PAGE_HOSTS = {"emea": ["pay.example.com"], "nam": ["pay.example.us"]}
    assert agent_page_refusal(region="emea", iframe_url="https://pay.example.us/a") is not None
    assert agent_page_refusal(region="nam", iframe_url="https://pay.example.us/a") is None


def test_emulator_origin_allowed_only_when_the_emulator_is_configured(settings):
    settings.VCC_AGENT_PAGE_HOSTS = {}
    settings.VCC_EMULATOR_URL = "http://127.0.0.1:8100"
    assert agent_page_refusal(region="emea", iframe_url="http://127.0.0.1:8100/pci/x") is None
    assert agent_page_refusal(region="emea", iframe_url="http://127.0.0.1:8101/pci/x")
    settings.VCC_EMULATOR_URL = ""
    assert agent_page_refusal(region="emea", iframe_url="http://127.0.0.1:8100/pci/x")


# --- The launch page and the API ----------------------------------------------------------


def test_launch_page_refuses_an_agent_page_on_a_host_not_allowed(emulator_elsewhere, caplog):
    with caplog.at_level(logging.WARNING, logger="payments"):
        response = _agent().post(LAUNCH, launch_data())
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context.get("agent_session") is None
    assert "X-BEARER-TOKEN" not in html and 'id="pci-agent-form"' not in html
    assert "not an allowed agent page host" in html
    policy = response["Content-Security-Policy"]
    assert emulator_elsewhere.url not in policy
    session = response.context["session"]
    assert session.outcome == LaunchOutcome.CREATED  # it exists on VCC: never called failed
    assert "VCC_AGENT_PAGE_HOSTS" in session.error
    event = AuditEvent.objects.get(action="session.agent_page_refused")
    assert (event.outcome, event.object_id) == (AuditOutcome.DENIED, str(session.pk))
    assert "not an allowed agent page host" in caplog.text
    # The status the page polls shows the refusal too.
    assert "not an allowed agent page host" in response.context["status"]["message"]


def test_launch_page_opens_an_allowed_agent_page_and_frames_only_it(emulator):
    response = _agent().post(LAUNCH, launch_data())
    assert response.context["agent_session"] is not None
    policy = response["Content-Security-Policy"]
    frame_src = next(part for part in policy.split(";") if "frame-src" in part)
    assert emulator.url in frame_src
    assert not AuditEvent.objects.filter(action="session.agent_page_refused").exists()


def test_api_gives_no_agent_tokens_for_a_page_on_a_host_not_allowed(client, emulator_elsewhere):
    token = api_token_issue(user=User.objects.get(username="agent"))[1]
    body = {"account": "Sandbox", "configurationId": 1, "paymentData": {"Amount": "1.00"}}
    body["paymentData"]["Currency"] = "GBP"
    response = client.post(
        "/api/v1/sessions",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    answer = response.json()
    assert answer["agentPage"] is None
    assert "not an allowed agent page host" in answer["error"]


# --- The policy every page carries ------------------------------------------------------------

POLICY_SCRIPT = """
import django, json
django.setup()
from django.conf import settings
print(json.dumps(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]))
"""


def _policy(**env) -> dict:
    import os

    base = {k: v for k, v in os.environ.items() if k not in ("VCC_EMULATOR_URL", "DATABASE_URL")}
    base |= {"DJANGO_SETTINGS_MODULE": "vccregistry.settings"}
    base |= {"ENV_FILE": str(ROOT / "tests" / "no-such.env"), **env}
    result = run_python(["-c", POLICY_SCRIPT], base)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_csp_allows_the_emulator_only_when_it_is_configured():
    without = _policy()
    assert not any("127.0.0.1" in origin for origin in without["frame-src"])
    assert not any("127.0.0.1" in origin for origin in without["form-action"])
    with_emulator = _policy(VCC_EMULATOR_URL="http://127.0.0.1:8100")
    assert "http://127.0.0.1:8100" in with_emulator["frame-src"]


def test_csp_frames_only_the_configured_agent_page_hosts():
    policy = _policy(VCC_AGENT_PAGE_HOSTS="emea=pay.example.com;*=*.psp.example")
    assert policy["frame-src"] == ["'self'", "https://*.psp.example", "https://pay.example.com"]
    assert policy["form-action"] == policy["frame-src"]
