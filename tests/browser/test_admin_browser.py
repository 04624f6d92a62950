import pytest

from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_demo_admin_logs_in_and_reads_the_configuration_links(page, live_demo):
    log_in(page, live_demo.url, "admin")
    page.get_by_role("link", name="Account configuration links").first.click()
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 10
    assert page.get_by_text("Production · id 1 → Flow 422 · production").is_visible()
    assert page.get_by_text("Sandbox · id 1 → Flow 695 · staging").is_visible()
    screenshot(page, "admin-configuration-links")


def test_credential_page_shows_an_empty_secret_input(page, live_demo):
    log_in(page, live_demo.url, "admin")
    page.goto(f"{live_demo.url}/admin/payments/apicredential/")
    page.get_by_role("link", name="Sandbox · credentials A").click()
    secret = page.locator("input[name=client_secret]")
    assert secret.get_attribute("type") == "password"
    assert secret.input_value() == ""
    screenshot(page, "admin-credential")
