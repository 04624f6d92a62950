"""Issue 15, the first hour, looked at as a person sees it: Chromium at 1280 x 800."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    """What the person sees (the viewport, not the whole page), for a human to open."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def assert_in_view(locator) -> None:
    """Visible and wholly inside the 1280 x 800 viewport, not merely in the HTML.

    Waits for the element to reach the viewport first: after a submit the next page is still
    loading, and forms.js scrolls to the error summary only once it has focused it.
    """
    expect(locator).to_be_in_viewport()
    box = locator.bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["x"] >= 0, box
    assert box["y"] + min(box["height"], 40) <= VIEWPORT["height"], box
    assert box["x"] + box["width"] <= VIEWPORT["width"], box


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who")).to_contain_text(username)


def open_launch_with_link(page, base_url: str) -> None:
    page.goto(f"{base_url}/launch/")
    page.select_option("#id_flow", "staging|Card payment")
    page.select_option("#id_link", label="Sandbox (sandbox) · id 1")


def test_launch_error_summary_is_in_view_and_focused(page, live_demo):
    log_in(page, live_demo.url, "agent")
    open_launch_with_link(page, live_demo.url)
    page.fill("#id_amount", "abc")
    page.fill("#id_currency", "XXXX")
    page.locator("#launch-button").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()  # forms.js focuses it once the page has loaded
    assert_in_view(summary)
    # Each problem names its field once: the amount's message begins with "Amount" itself.
    expect(summary).to_contain_text("Amount 'abc' is not a number")
    expect(summary).not_to_contain_text("Amount: Amount")
    expect(summary).to_contain_text("Currency:")
    shot(page, "launch-error-summary")

    summary.get_by_role("link", name="Currency:").click()
    assert focused_id(page) == "id_currency"
    assert_in_view(page.locator("#id_currency"))


def test_launch_long_reference_is_refused_not_cut(page, live_demo):
    log_in(page, live_demo.url, "agent")
    open_launch_with_link(page, live_demo.url)
    expect(page.locator("#id_merchant_reference")).not_to_have_attribute("maxlength", "100")
    expect(page.get_by_text("Up to 100 characters.")).to_be_visible()
    page.fill("#id_merchant_reference", "R" * 5000)
    assert len(page.input_value("#id_merchant_reference")) == 5000  # the browser kept it all
    page.locator("#launch-button").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    assert_in_view(summary)
    expect(summary).to_contain_text("at most 100 characters (it has 5000)")
    shot(page, "launch-long-reference")


def test_promotion_request_error_summary_is_in_view_and_focused(page, live_demo):
    log_in(page, live_demo.url, "registry")
    page.goto(f"{live_demo.url}/promotions/new/")
    page.get_by_role("button", name="Request promotion").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()  # forms.js focuses it once the page has loaded
    assert_in_view(summary)
    shot(page, "promotion-request-error-summary")


def test_launch_panel_says_a_credential_has_no_secret(page, live_demo):
    from payments.models import ApiCredential

    labels = sorted(
        ApiCredential.objects.filter(account__name="Sandbox").values_list("label", flat=True)
    )
    # A credential whose secret was removed (saved as None): it has no fingerprint either.
    for credential in ApiCredential.objects.filter(account__name="Sandbox"):
        credential.client_secret = None
        credential.save()
    log_in(page, live_demo.url, "agent")
    open_launch_with_link(page, live_demo.url)
    panel = page.locator('#launch-summary [data-summary="credential"]')
    expect(panel).to_contain_text("no secret — cannot launch")
    assert_in_view(panel)
    note = page.locator("#secretless-credentials")
    expect(note).to_contain_text(f"{labels[0]} on Sandbox")
    assert_in_view(note)
    shot(page, "launch-no-secret")


ADMIN_LISTS = [
    "paymentsession",
    "apicredential",
    "paymentflow",
    "vccaccount",
    "accountconfiguration",
    "auditevent",
    "notification",
    "delivery",
    "promotion",
    "apitoken",
    "changefreeze",
    "webhookendpoint",
]


@pytest.mark.parametrize("model", ADMIN_LISTS)
def test_admin_list_fits_1280(page, live_demo, model):
    from django.contrib.auth.models import User

    User.objects.create_superuser("wide", password=DEMO_PASSWORD)
    page.goto(f"{live_demo.url}/admin/login/")
    page.fill("#id_username", "wide")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    _a_session_of_each_outcome()
    _rows_in_the_lists_that_start_empty()
    page.goto(f"{live_demo.url}/admin/payments/{model}/")
    if model == "promotion":  # its own columns, not the production fields (empty until applied)
        expect(page.locator("#result_list")).to_contain_text("Production · id 3")
    shot(page, f"admin-{model}")
    # The admin clips a wide table inside .results: nothing may be scrolled out of it.
    overflow = page.evaluate(
        "Array.from(document.querySelectorAll('.results'))"
        ".map(el => el.scrollWidth - el.clientWidth)"
    )
    assert all(extra <= 0 for extra in overflow), (model, overflow)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], (model, width)


def _rows_in_the_lists_that_start_empty():
    """A promotion (with its deliveries), a token, a freeze and a webhook: an empty list
    always fits, so each list is measured with a row in it."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from payments.models import ChangeFreeze, PaymentFlow, Stage, VccAccount, WebhookEndpoint
    from payments.services import promotion_request
    from payments.services.api_tokens import api_token_issue

    api_token_issue(user=User.objects.get(username="launcher"), name="Contact centre CRM")
    start = timezone.now() + timedelta(days=30)
    ChangeFreeze.objects.create(
        starts_at=start, ends_at=start + timedelta(days=3), reason="Black Friday peak season"
    )
    WebhookEndpoint.objects.create(
        name="Payments team Slack",
        url="https://hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
        format="slack",
        secret="webhook-secret-for-the-fit-test",
    )

    promotion_request(
        source_flow=PaymentFlow.objects.get(environment__stage=Stage.STAGING, number=699),
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure goes live",
        actor=User.objects.get(username="registry"),
    )


def _a_session_of_each_outcome():
    from django.contrib.auth.models import User

    from payments.models import AccountConfiguration, PaymentSession

    agent = User.objects.get(username="agent")
    link = AccountConfiguration.objects.select_related("flow__environment", "account").first()
    credential = link.account.credentials.first()
    for outcome, state, decision in [
        ("created", "Finished", "Payment accepted"),
        ("failed", "", ""),
        ("unknown", "Created", ""),
    ]:
        PaymentSession.objects.create(
            launched_by=agent,
            kind="agent_assist",
            account=link.account,
            account_name=link.account.name,
            credential=credential,
            credential_label=credential.label,
            link=link,
            configuration_id=link.configuration_id,
            flow=link.flow,
            flow_number=link.flow.number,
            flow_name=link.flow.name,
            stage=link.flow.environment.stage,
            environment_name=link.flow.environment.name,
            outcome=outcome,
            session_state=state,
            decision=decision,
            merchant_reference="WIDE-CHECK-REFERENCE",
        )


def test_audit_table_stays_inside_the_page_at_1280(page, live_demo):
    """The audit table scrolls inside its box; it no longer sticks out past the page's edge."""
    log_in(page, live_demo.url, "auditor")
    page.goto(f"{live_demo.url}/audit/")
    frame = page.locator(".table-scroll").bounding_box()
    heading = page.locator("h1").bounding_box()
    filters = page.locator("form", has=page.get_by_role("button", name="Filter")).bounding_box()
    assert frame is not None and heading is not None and filters is not None
    assert frame["x"] >= heading["x"] - 1
    assert frame["x"] + frame["width"] <= filters["x"] + filters["width"] + 1
    shot(page, "audit-at-1280")


def test_audit_trail_fits_1280_with_a_long_event(page, live_demo):
    """A probe failure names its link and says at length what to do: the table still fits."""
    from payments.models import AccountConfiguration
    from payments.services import audit_record

    link = AccountConfiguration.objects.select_related("account", "flow").get(
        account__name="Contact Centre", configuration_id=3
    )
    audit_record(
        action="link.probe_failed",
        outcome="failure",
        origin="registry_worker probes",
        obj=link,
        reason=(
            f"Configuration id 3 is not provisioned on VCC account {link.account.name}. "
            "Check the configuration link in the registry (account and id), or ask Vonage "
            "to provision that id on the account."
        ),
    )
    log_in(page, live_demo.url, "auditor")
    page.goto(f"{live_demo.url}/audit/")
    object_type = page.locator("table.audit").get_by_text(f"accountconfiguration {link.pk}")
    expect(object_type.first).to_be_visible()
    shot(page, "audit-trail")
    overflow = page.evaluate(
        "Array.from(document.querySelectorAll('.table-scroll'))"
        ".map(el => el.scrollWidth - el.clientWidth)"
    )
    assert overflow and all(extra <= 0 for extra in overflow), overflow
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
