import pytest
from django.contrib.auth.models import User

from payments.services.api_tokens import api_token_issue
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_api_docs_page_renders_every_endpoint_without_csp_errors(page, live_demo):
    console_errors = []
    page.on(
        "console", lambda message: message.type == "error" and console_errors.append(message.text)
    )
    page.goto(f"{live_demo.url}/api/v1/docs")
    page.wait_for_selector("text=VCC Registry integration API")
    page.get_by_text("/api/v1/resolve", exact=True).wait_for()
    screenshot(page, "api-docs")
    assert console_errors == []


def test_admin_token_list_offers_revoke_and_never_the_token(page, live_demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="agent"), name="IVR staging")
    log_in(page, live_demo.url, "admin")
    page.goto(f"{live_demo.url}/admin/payments/apitoken/")
    page.wait_for_selector(f"text={token.prefix}")
    page.select_option("select[name=action]", "revoke")
    screenshot(page, "admin-api-tokens")
    assert raw_token not in page.content()
    assert token.token_hash not in page.content()
