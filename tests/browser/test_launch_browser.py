"""An agent launches a session in Chromium and takes the payment in the embedded PCI page."""

import re

import pytest
from playwright.sync_api import expect

from payments.models import PaymentSession
from payments.vcc.emulator.webhooks import WebhookSender
from tests.browser.conftest import screenshot
from tests.conftest import DEMO_PASSWORD, point_accounts_at, provision_from_registry

pytestmark = pytest.mark.browser

WEBHOOK_TOKEN = "browser-test-webhook-token"


@pytest.fixture
def emulator_with_webhooks(live_demo, vcc_emulator, settings):
    """The emulator, provisioned from the registry, posting status webhooks to the live registry."""
    settings.VCC_WEBHOOK_TOKEN = WEBHOOK_TOKEN
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    sender = WebhookSender(
        url=f"{live_demo.url}/vcc/webhook/",
        token=WEBHOOK_TOKEN,
        faults=vcc_emulator.faults,
        stats=vcc_emulator.stats,
    )
    sender.start()
    vcc_emulator.vcc.on_finished = sender.send
    yield vcc_emulator
    sender.stop()


def log_in_as_agent(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Launch", exact=True)).to_be_visible()


def test_agent_launches_card_payment_and_sees_it_accepted(page, live_demo, emulator_with_webhooks):
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    log_in_as_agent(page, live_demo.url)
    page.get_by_role("link", name="Launch", exact=True).click()
    expect(page.locator("#launch-button")).to_be_disabled()

    page.select_option("#id_flow", "staging|Card payment")
    page.select_option("#id_link", label="Sandbox (sandbox) · id 1")
    summary = page.locator("#launch-summary")
    expect(summary.locator('[data-summary="account"]')).to_have_text("Sandbox")
    expect(summary.locator('[data-summary="kind"]')).to_have_text("sandbox")
    expect(summary.locator('[data-summary="region"]')).to_have_text("EMEA")
    expect(summary.locator('[data-summary="credential"]')).to_have_text("A")
    expect(summary.locator('[data-summary="configuration-id"]')).to_have_text("1")
    expect(summary.locator('[data-summary="flow-number"]')).to_have_text("695")
    expect(summary.locator('[data-summary="stage"]')).to_have_text("staging")
    page.fill("#id_merchant_reference", "BROWSER-1")
    screenshot(page, "launch")

    page.locator("#launch-button").click()
    frame = page.frame_locator("#pci-agent-frame")
    expect(frame.get_by_role("button", name="Accept payment")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/sessions/\d+/$"))
    assert "X-BEARER-TOKEN" not in page.content()
    screenshot(page, "launch-agent-page")

    frame.get_by_role("button", name="Accept payment").click()
    expect(frame.get_by_text("Payment accepted")).to_be_visible()
    panel = page.locator("#status-panel")
    expect(panel.locator('[data-status="headline"]')).to_have_text("Payment accepted")
    expect(panel.locator('[data-status="sessionState"]')).to_have_text("Finished")
    expect(panel.locator('[data-status="decision"]')).to_have_text("ACCEPT")
    expect(panel.locator('[data-status="reasonCode"]')).to_have_text("100")
    screenshot(page, "launch-accepted")

    session = PaymentSession.objects.get()
    assert (session.decision, session.merchant_reference) == ("ACCEPT", "BROWSER-1")
    assert session.status_source in ("webhook", "poll")
    assert emulator_with_webhooks.stats.webhooks_delivered == 1
    assert violations == []


def test_my_sessions_lists_the_outcome(page, live_demo, emulator_with_webhooks):
    log_in_as_agent(page, live_demo.url)
    page.goto(f"{live_demo.url}/launch/")
    page.select_option("#id_flow", "staging|Card refund")
    page.select_option("#id_link", label="Sandbox (sandbox) · id 2")
    page.locator("#launch-button").click()
    frame = page.frame_locator("#pci-agent-frame")
    frame.get_by_role("button", name="Decline payment").click()
    expect(page.locator('[data-status="decision"]')).to_have_text("DECLINE")

    page.get_by_role("link", name="My sessions").click()
    row = page.locator("table.sessions tbody tr").first
    expect(row).to_contain_text("Card refund")
    expect(row).to_contain_text("DECLINE")
    screenshot(page, "sessions")


def test_production_needs_the_typed_account_name(page, live_demo, emulator_with_webhooks):
    page.goto(f"{live_demo.url}/accounts/login/")
    page.fill("#id_username", "launcher")
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_demo.url}/launch/")
    page.select_option("#id_flow", "production|Card payment")
    page.select_option("#id_link", label="Production (production) · id 1")
    expect(page.locator("#production-confirm")).to_be_visible()
    expect(page.locator("#launch-button")).to_have_text("Launch on production")
    page.locator("#launch-button").click()
    refusal = page.locator("#production-confirm .errorlist")
    expect(refusal).to_contain_text("type the account name “Production”")
    screenshot(page, "launch-production-refused")
    assert not PaymentSession.objects.exists()
