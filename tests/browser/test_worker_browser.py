from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from payments.models import (
    ChangeFreeze,
    PaymentFlow,
    PciEnvironment,
    PromotionSchedule,
    Stage,
    VccAccount,
)
from payments.services import promotion_approve, promotion_request
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_banner_shows_a_coming_freeze_on_every_page(page, live_demo):
    start = timezone.now() + timedelta(hours=3)
    ChangeFreeze.objects.create(
        starts_at=start, ends_at=start + timedelta(days=2), reason="Black Friday peak"
    )
    log_in(page, live_demo.url, "auditor")

    for path in ["/", "/sessions/", "/notifications/"]:
        page.goto(f"{live_demo.url}{path}")
        banner = page.locator("#freeze-banner")
        assert banner.is_visible()
        assert "Black Friday peak" in banner.inner_text()
        assert "Change freeze from" in banner.inner_text()
    screenshot(page, "freeze-banner")


def test_an_approver_schedules_a_promotion_from_its_page(page, live_demo):
    flow = PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING),
        number=697,
        name="Card payment with 3-D Secure",
    )
    promotion = promotion_request(
        source_flow=flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="Go live",
        actor=User.objects.get(username="registry"),
    )
    promotion_approve(promotion=promotion, actor=User.objects.get(username="approver"))
    log_in(page, live_demo.url, "approver")
    page.goto(f"{live_demo.url}/promotions/{promotion.pk}/")
    when = timezone.localtime(timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)

    page.fill("#apply-at", when.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule").click()

    page.wait_for_selector("text=is scheduled for")
    assert page.locator("#schedule").is_visible()
    assert "Remove schedule" in page.locator("#schedule").inner_text()
    schedule = PromotionSchedule.objects.get(promotion=promotion)
    assert schedule.apply_at == when
    assert schedule.scheduled_by.username == "approver"
    screenshot(page, "promotion-scheduled")
