"""The Link health page in a browser: a registry admin probes, the one red link says why."""

import pytest

from payments.services.demo import NOT_PROVISIONED_AT_VCC
from tests.browser.conftest import log_in, screenshot
from tests.conftest import point_accounts_at, provision_from_registry

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_vcc(live_demo, vcc_emulator, settings):
    """The demo's VCC: the registry's world but for Contact Centre id 3."""
    settings.VCC_MAX_RETRIES = 1
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator, leave_out=NOT_PROVISIONED_AT_VCC)
    return vcc_emulator


def test_link_health_shows_the_one_red_link_and_why(page, live_demo, demo_vcc):
    log_in(page, live_demo.url, "registry")
    page.goto(f"{live_demo.url}/")
    page.get_by_role("link", name="Link health").first.click()

    page.get_by_role("button", name="Probe every staging link").click()

    page.wait_for_selector("#failing-title")
    assert page.locator("#failing-title").inner_text() == "1 link VCC refuses"
    failing = page.locator(".failing-link").inner_text()
    assert "Contact Centre · id 3" in failing
    assert "Configuration id 3 is not provisioned on VCC account Contact Centre" in failing
    assert "Ask Vonage to provision configuration id 3 on VCC account Contact Centre" in failing
    red = page.locator("td.health-failed")
    assert red.count() == 1
    assert red.get_attribute("data-account") == "Contact Centre"
    assert red.get_attribute("data-id") == "3"
    # The red is the stylesheet's, not an inline style (the CSP forbids those).
    colour = red.evaluate("cell => getComputedStyle(cell).borderLeftColor")
    assert colour == "rgb(179, 38, 30)"
    assert page.locator("td.health-ok").count() == 5  # the other staging links
    assert page.locator("td.health-never").count() == 4  # production: not probed
    screenshot(page, "link-health")
