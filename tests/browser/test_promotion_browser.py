import csv
import io

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from payments.models import (
    PaymentFlow,
    PaymentSession,
    PciEnvironment,
    Promotion,
    PromotionState,
    SessionKind,
    Stage,
    VccAccount,
)
from payments.services import promotion_approve, promotion_request
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def new_flow(live_demo):
    """A flow tested on staging and linked on the sandbox account, not promoted yet."""
    return PaymentFlow.objects.create(
        environment=PciEnvironment.objects.get(stage=Stage.STAGING),
        number=697,
        name="Card payment with 3-D Secure",
    )


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


def _launch_on(promotion: Promotion, username: str, guid: str) -> None:
    flow = promotion.production_flow
    PaymentSession.objects.create(
        launched_by=User.objects.get(username=username),
        kind=SessionKind.AGENT_ASSIST,
        account=promotion.target_account,
        account_name=promotion.target_account.name,
        credential_label="B",
        link=promotion.production_link,
        configuration_id=promotion.configuration_id,
        flow=flow,
        flow_number=flow.number,
        flow_name=flow.name,
        stage=Stage.PRODUCTION,
        environment_name=flow.environment.name,
        outcome="created",
        session_guid=guid,
        session_state="Finished",
        decision="Accept",
    )


def test_one_requests_another_approves_and_applies_an_auditor_finds_and_exports_it(
    as_user, live_demo, new_flow
):
    base = live_demo.url

    # A registry admin finds the unpromoted flow on the comparison page and requests it.
    registry = as_user("registry")
    registry.goto(f"{base}/promotions/environments/")
    row = registry.locator("table.compare tr", has_text="Production").filter(has_text="697")
    row.get_by_role("link", name="Request promotion").click()
    registry.fill("#id_production_flow_number", "424")
    registry.fill("#id_configuration_id", "3")
    registry.fill("#id_reason", "3-D Secure card payments go live after the staging sign-off.")
    screenshot(registry, "promotion-request")
    registry.get_by_role("button", name="Request promotion").dblclick()
    registry.wait_for_selector("text=is requested")
    assert Promotion.objects.count() == 1  # the double click made one request
    promotion = Promotion.objects.get()
    assert registry.get_by_role("button", name="Approve").count() == 0
    with pytest.raises(PermissionDenied):  # what a forged POST would do: refused, recorded
        promotion_approve(promotion=promotion, actor=User.objects.get(username="registry"))

    # An approver approves and applies it.
    approver = as_user("approver")
    approver.goto(f"{base}/promotions/")
    approver.get_by_role("link", name=f"#{promotion.pk}").click()
    approver.get_by_role("button", name="Approve").click()
    approver.wait_for_selector("text=is approved")
    approver.get_by_role("button", name="Apply to production").click()
    approver.wait_for_selector("text=are live")
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPLIED
    assert promotion.production_flow.promoted_from == new_flow
    _launch_on(promotion, "launcher", "5f0e7e8c-demo-0001")
    _launch_on(promotion, "launcher", "5f0e7e8c-demo-0002")
    approver.reload()
    screenshot(approver, "promotion-page")

    # An auditor finds it in the timeline, reads its story and exports the filtered view.
    auditor = as_user("auditor")
    auditor.goto(f"{base}/audit/")
    auditor.select_option("#id_action", "promotion.*")
    auditor.get_by_role("button", name="Filter").click()
    auditor.wait_for_selector("text=match these filters")
    rows = auditor.locator("table.audit > tbody > tr")
    steps = [
        [row.locator("td code").inner_text(), row.locator("td .badge").inner_text()]
        for row in rows.all()
    ]
    assert steps == [
        ["promotion.applied", "Success"],
        ["promotion.approved", "Success"],
        ["promotion.approved", "Denied"],
        ["promotion.requested", "Success"],
    ]
    auditor.locator("details.changes-details summary").first.click()
    screenshot(auditor, "audit-timeline")
    auditor.fill("#id_person", "approver")
    auditor.get_by_role("button", name="Filter").click()
    auditor.wait_for_selector("text=2 events match")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert [row["action"] for row in rows] == ["promotion.applied", "promotion.approved"]
    auditor.get_by_role("link", name=str(promotion)).first.click()
    auditor.wait_for_selector("text=the full story")
    assert auditor.get_by_text("2 sessions since").is_visible()
    screenshot(auditor, "audit-promotion-story")


def test_the_comparison_and_topology_pages_show_a_pending_promotion(as_user, live_demo, new_flow):
    pending = promotion_request(
        source_flow=new_flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=424,
        configuration_id=3,
        reason="3-D Secure goes live",
        actor=User.objects.get(username="registry"),
    )
    page = as_user("auditor")
    page.goto(f"{live_demo.url}/promotions/environments/")
    # 697 here and the demo's 699, each towards two production accounts.
    assert page.locator("table.compare").get_by_text("not yet promoted").count() == 4
    assert page.get_by_role("link", name=f"#{pending.pk} requested").is_visible()
    screenshot(page, "environment-comparison")
    page.goto(f"{live_demo.url}/promotions/topology/")
    diagrams = page.locator("svg.topology")
    assert diagrams.count() == 2
    assert diagrams.first.bounding_box()["width"] > 600
    assert diagrams.first.get_by_text(f"promotion #{pending.pk} requested").is_visible()
    screenshot(page, "topology")
