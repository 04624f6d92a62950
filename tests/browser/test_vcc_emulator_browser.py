"""The emulator's PCI pages in Chromium: framed like the launch page frames them, and finished."""

import pytest

from payments.vcc.emulator import EmulatorServer, StaticWorld
from tests.browser.conftest import screenshot
from tests.vcc_helpers import CLIENT_ID, FAST, PAYMENT_DATA, WORLD, make_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

# A host page on another origin that POSTs the agent tokens into an iframe, as documented.
HOST_PAGE = """<!DOCTYPE html><html><body>
<form id="open" method="post" action="{iframe_url}" target="pci">
  <input type="hidden" name="X-BEARER-TOKEN" value="{access}">
  <input type="hidden" name="X-REFRESH-TOKEN" value="{refresh}">
  <button type="submit">Open</button>
</form>
<iframe name="pci" title="PCI agent page" width="620" height="540"></iframe>
</body></html>"""


@pytest.fixture
def emulator():
    server = EmulatorServer(world=StaticWorld(WORLD)).start()
    yield server
    server.stop()


def test_agent_page_works_inside_an_iframe_on_another_origin(page, emulator):
    client = make_client(emulator, config=FAST)
    session = client.create_agent_assist_session(
        payment_data=PAYMENT_DATA, agent_id="agent1234", account_configuration_id=1
    )
    page.set_content(
        HOST_PAGE.format(
            iframe_url=session.iframe_url,
            access=session.agent_access_token,
            refresh=session.agent_refresh_token,
        )
    )
    page.click("#open button")
    frame = page.frame_locator("iframe[name=pci]")
    frame.get_by_role("button", name="Accept payment").wait_for()
    screenshot(page, "emulator-agent-page-framed")
    frame.get_by_role("button", name="Accept payment").click()
    frame.get_by_role("heading", name="Payment accepted").wait_for()
    screenshot(page, "emulator-agent-page-accepted")
    assert client.get_session(session.session_guid).session_state == "Finished"
    assert CLIENT_ID not in page.content()


def test_customer_payment_link_page_declines(page, emulator):
    client = make_client(emulator, config=FAST)
    session = client.create_digital_session(
        payment_data={**PAYMENT_DATA, "CustomerPhoneNumber": "+48500000000"},
        account_configuration_id=2,
    )
    page.set_viewport_size({"width": 420, "height": 800})
    page.goto(session.details["paymentLinkUrl"])
    page.get_by_role("button", name="Pay £12.40").wait_for()
    screenshot(page, "emulator-customer-page")
    page.get_by_role("button", name="Decline payment").click()
    page.get_by_role("heading", name="Payment declined").wait_for()
    screenshot(page, "emulator-customer-page-declined")
    status = client.get_session(session.session_guid)
    assert status.payment_result_data["decision"] == "DECLINE"


def test_agent_page_without_tokens_explains_itself(page, emulator):
    client = make_client(emulator, config=FAST)
    session = client.create_agent_assist_session(payment_data=PAYMENT_DATA)
    page.goto(session.iframe_url)
    page.get_by_role("heading", name="Not authorised").wait_for()
    screenshot(page, "emulator-agent-page-refused")


def test_index_page_lists_the_sessions(page, emulator):
    client = make_client(emulator, config=FAST)
    for configuration_id in (1, 2):
        client.create_agent_assist_session(
            payment_data=PAYMENT_DATA, account_configuration_id=configuration_id
        )
    page.goto(f"{emulator.url}/")
    page.get_by_role("heading", name="VCC emulator").wait_for()
    screenshot(page, "emulator-index")
