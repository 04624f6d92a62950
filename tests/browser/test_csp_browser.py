"""The admin and our pages work under the Content-Security-Policy, with no violation (X4)."""

import pytest
from django.urls import reverse

from payments.models import ApiCredential, VccAccount
from tests.browser.conftest import log_in, screenshot
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def console(page):
    """Console errors, CSP violations and failed requests the page reports."""
    messages = []

    def on_console(message):
        # Failed loads are reported by the response hook below, which names the URL (the
        # browser's own favicon probe is not a page resource and never reaches it).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            messages.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: messages.append(str(error)))
    page.on(
        "response",
        lambda response: (
            messages.append(f"HTTP {response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    return messages


def violations(messages: list[str]) -> list[str]:
    return [text for text in messages if "Content Security Policy" in text or "Refused" in text]


def test_admin_pages_raise_no_csp_violation(page, live_demo, console):
    """Admin index, changelists, change and history pages raise no CSP violation (TEST_PLAN X4)."""
    log_in(page, live_demo.url, "admin")
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    for path in [
        "/admin/",
        "/admin/payments/accountconfiguration/?q=422",
        f"/admin/payments/apicredential/{credential.pk}/change/",
        f"/admin/payments/apicredential/{credential.pk}/history/",
        "/admin/auth/user/",
        "/",
    ]:
        page.goto(f"{live_demo.url}{path}")
        page.wait_for_load_state("networkidle")
    assert violations(console) == []
    assert console == []


def test_inline_add_row_works_under_the_csp(page, live_demo, console):
    """The inline formset's 'Add another' script runs under the CSP (TEST_PLAN X4)."""
    log_in(page, live_demo.url, "admin")
    account = VccAccount.objects.get(name="Sandbox")
    page.goto(f"{live_demo.url}/admin/payments/vccaccount/{account.pk}/change/")
    rows = page.locator("#credentials-group tbody tr.form-row:not(.empty-form)")
    before = rows.count()
    page.locator("#credentials-group .add-row a").click()
    assert rows.count() == before + 1
    screenshot(page, "csp-admin-inline-add-row")
    assert violations(console) == []


def test_autocomplete_works_under_the_csp(page, live_demo, console):
    """The select2 autocomplete fetches and renders choices under the CSP (TEST_PLAN X4)."""
    log_in(page, live_demo.url, "admin")
    page.goto(f"{live_demo.url}/admin/payments/accountconfiguration/add/")
    page.locator("#id_account + .select2").click()
    page.locator(".select2-search__field").fill("Sand")
    option = page.locator(".select2-results__option", has_text="Sandbox")
    option.wait_for()
    option.click()
    assert "Sandbox" in page.locator("#select2-id_account-container").inner_text()
    screenshot(page, "csp-admin-autocomplete")
    assert violations(console) == []


def test_login_page_raises_no_csp_violation(page, live_demo, console):
    page.goto(f"{live_demo.url}/accounts/login/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_selector("p.error")
    screenshot(page, "csp-login-error")
    assert violations(console) == []


def test_lockout_message_on_both_login_pages(page, live_demo, console):
    """After ten failures both sign-in pages say why and what to do (TEST_PLAN B1)."""
    for attempt in range(10):
        page.goto(f"{live_demo.url}/accounts/login/")
        page.fill("#id_username", "agent")
        page.fill("#id_password", f"wrong password {attempt}")
        page.click("button[type=submit]")
    page.goto(f"{live_demo.url}/accounts/login/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    assert "This account is locked after 10 failed log-ins" in page.inner_text("main")
    screenshot(page, "login-locked-out")
    log_in(page, live_demo.url, "agent")
    assert "This account is locked" in page.inner_text("#content")
    screenshot(page, "admin-login-locked-out")
    assert violations(console) == []


def test_registry_pages_raise_no_csp_violation(page, live_demo, console):
    """Launch, sessions, promotions, environments, topology, audit: no CSP error (TEST_PLAN X4)."""
    log_in(page, live_demo.url, "admin")
    for name in [
        "payments:launch",
        "payments:sessions",
        "payments:promotions",
        "payments:promotion_new",
        "payments:environments",
        "payments:topology",
        "payments:audit",
    ]:
        page.goto(f"{live_demo.url}{reverse(name)}")
        page.wait_for_load_state("networkidle")
    screenshot(page, "csp-audit-page")
    assert violations(console) == []
    assert [line for line in console if line.startswith("HTTP 5")] == []
