"""Link an already promoted production flow on a second account, from the comparison page."""

import re

import pytest
from django.contrib.auth.models import User

from payments.models import (
    AccountConfiguration,
    ChangeKind,
    PaymentFlow,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)
from payments.services import promotion_apply, promotion_approve, promotion_request
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def compare_row(page, staging_number: int, account_name: str):
    """The comparison row of a staging flow towards one account (its own cell, not a list)."""
    account_cell = page.locator("td").filter(has_text=re.compile(rf"^{account_name} "))
    staging_badge = page.locator(".badge.staging", has_text=str(staging_number))
    return page.locator("table.compare tr").filter(has=account_cell).filter(has=staging_badge)


@pytest.fixture
def as_user(browser, live_demo):
    contexts = []

    def open_page(username: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        log_in(page, live_demo.url, username)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def promoted_699(live_demo):
    """The README's step 3: flow 699 is production flow 424 on Production, id 3."""
    people = {user.username: user for user in User.objects.all()}
    promotion = promotion_request(
        source_flow=PaymentFlow.objects.get(number=699),
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure card payments go live",
        actor=people["registry"],
    )
    promotion_approve(promotion=promotion, actor=people["approver"])
    return promotion_apply(promotion=promotion, actor=people["approver"])


def test_change_set_link_requested_from_the_comparison_page_then_approved_and_applied(
    as_user, live_demo, promoted_699
):
    base = live_demo.url

    # The registry admin sees Contact Centre has no id for flow 424 and requests exactly that.
    registry = as_user("registry")
    registry.goto(f"{base}/promotions/environments/")
    row = compare_row(registry, 699, "Contact Centre")
    assert row.get_by_text("production link missing").is_visible()
    row.get_by_role("link", name="Request link of flow 424").click()
    assert registry.input_value("#id_production_flow_number") == "424"
    assert (
        registry.locator("#id_target_account option:checked")
        .inner_text()
        .startswith("Contact Centre")
    )
    registry.fill("#id_configuration_id", "6")
    registry.fill("#id_reason", "Contact Centre takes 3-D Secure card payments too.")
    registry.get_by_role("button", name="Request promotion").click()
    registry.wait_for_selector("text=is requested")
    promotion = Promotion.objects.exclude(pk=promoted_699.pk).get()
    assert [change.kind for change in promotion.changes.all()] == [ChangeKind.LINK]

    # An approver reviews the set, approves and applies it.
    approver = as_user("approver")
    approver.goto(f"{base}/promotions/{promotion.pk}/")
    assert approver.get_by_text("no id 6 on Contact Centre").is_visible()
    # "After apply" lists the set's own change: flow 424 is linked, not shown as a new flow.
    effect = approver.locator("section.effect")
    assert effect.get_by_text("linked", exact=True).is_visible()
    assert effect.get_by_text("promoted from").count() == 0
    screenshot(approver, "change-set-pending")
    approver.get_by_role("button", name="Approve").click()
    approver.wait_for_selector("text=is approved")
    approver.get_by_role("button", name="Apply to production").click()
    approver.wait_for_selector("text=are live")
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPLIED
    assert PaymentFlow.objects.filter(environment__stage=Stage.PRODUCTION, number=424).count() == 1
    link = AccountConfiguration.objects.get(account__name="Contact Centre", configuration_id=6)
    assert link.flow == promoted_699.production_flow and link.is_active
    screenshot(approver, "change-set")

    # The comparison page now shows flow 699 promoted on both accounts.
    registry.goto(f"{base}/promotions/environments/")
    for name in ("Production", "Contact Centre"):
        row = compare_row(registry, 699, name)
        assert row.locator(".badge.ok", has_text="promoted").is_visible()
        assert row.get_by_role("link", name="Request link").count() == 0
