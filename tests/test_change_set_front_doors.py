"""Change sets through the pages, the comparison page's prefilled request and the API."""

import re
import uuid

import pytest
from django.urls import reverse

from payments.models import (
    AccountConfiguration,
    ChangeKind,
    PaymentFlow,
    Promotion,
    PromotionState,
)
from payments.services import promotion_apply, promotion_approve, promotion_request
from tests.promotion_support import account, api, web

pytestmark = pytest.mark.django_db

REASON = "3-D Secure goes live"


def form(flow, links=(), **overrides) -> dict:
    data = {
        "source_flow": flow.pk,
        "target_account": account("Production").pk,
        "production_flow_number": 424,
        "configuration_id": 3,
        "target_environment": "",
        "reason": REASON,
        "idempotency_key": str(uuid.uuid4()),
        "links-TOTAL_FORMS": str(max(len(links), 2)),
        "links-INITIAL_FORMS": "0",
    }
    for index, (name, configuration_id) in enumerate(links):
        data[f"links-{index}-account"] = account(name).pk
        data[f"links-{index}-configuration_id"] = configuration_id
    data.update(overrides)
    return data


@pytest.fixture
def promoted_699(people):
    """The README's step 3 done: 699 is production flow 424 on Production, id 3."""
    promotion = promotion_request(
        source_flow=PaymentFlow.objects.get(number=699),
        target_account=account("Production"),
        production_flow_number=424,
        configuration_id=3,
        reason=REASON,
        actor=people["registry"],
    )
    promotion_approve(promotion=promotion, actor=people["approver"])
    return promotion_apply(promotion=promotion, actor=people["approver"])


def compare_row(html: str, staging_number: int, account_name: str) -> str:
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if f">{staging_number}</span>" in row and f"<td>{account_name} <span" in row:
            return row
    raise AssertionError(f"no comparison row for {staging_number} on {account_name}")


# --- The request page ---------------------------------------------------------------------


def test_change_set_page_request_with_further_links_is_one_promotion(people, new_flow):
    response = web(people["registry"]).post(
        reverse("payments:promotion_new"), form(new_flow, links=[("Contact Centre", 6)])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    promotion = Promotion.objects.get()
    links = promotion.changes.filter(kind=ChangeKind.LINK).order_by("position")
    assert [(c.account.name, c.configuration_id) for c in links] == [
        ("Production", 3),
        ("Contact Centre", 6),
    ]


def test_change_set_page_without_link_rows_still_requests(people, new_flow):
    data = form(new_flow)
    del data["links-TOTAL_FORMS"], data["links-INITIAL_FORMS"]
    response = web(people["registry"]).post(reverse("payments:promotion_new"), data)
    assert response.status_code == 302
    assert Promotion.objects.get().changes.count() == 2


def test_change_set_page_half_filled_link_row_is_refused(people, new_flow):
    data = form(new_flow, **{"links-0-account": account("Contact Centre").pk})
    response = web(people["registry"]).post(reverse("payments:promotion_new"), data)
    assert response.status_code == 400
    assert "Choose the account and the id" in response.content.decode()
    assert not Promotion.objects.exists()


def test_change_set_page_refusal_of_a_further_link_is_shown(people, new_flow):
    response = web(people["registry"]).post(
        reverse("payments:promotion_new"), form(new_flow, links=[("Contact Centre", 4)])
    )
    assert response.status_code == 400
    assert "Contact Centre already uses id 4" in response.content.decode()


def test_change_set_page_add_another_link_row_requests_nothing(people, new_flow):
    data = form(new_flow, add_link="1")
    response = web(people["registry"]).post(reverse("payments:promotion_new"), data)
    assert response.status_code == 200
    assert 'name="links-2-account"' in response.content.decode()
    assert not Promotion.objects.exists()


def test_change_set_page_shows_every_change_with_before_and_after(people, new_flow):
    old = AccountConfiguration.objects.get(account__name="Production", configuration_id=1)
    promotion = promotion_request(
        source_flow=new_flow,
        target_account=account("Production"),
        production_flow_number=424,
        configuration_id=3,
        links=[(account("Contact Centre"), 6)],
        deactivate=[old],
        reason=REASON,
        actor=people["registry"],
    )
    html = web(people["approver"]).get(reverse("payments:promotion", args=[promotion.pk]))
    html = html.content.decode()
    assert "Change set: 4 changes" in html
    assert "no flow 424 on PCI Pal production" in html
    assert "no id 6 on Contact Centre" in html and "id 6 → flow 424" in html
    assert "id 1 → flow 422, active" in html and "id 1 switched off" in html
    audit = web(people["auditor"]).get(reverse("payments:audit_promotion", args=[promotion.pk]))
    assert "no id 6 on Contact Centre" in audit.content.decode()


def test_change_set_edit_page_keeps_and_changes_the_further_links(people, new_flow):
    promotion = promotion_request(
        source_flow=new_flow,
        target_account=account("Production"),
        production_flow_number=424,
        configuration_id=3,
        links=[(account("Contact Centre"), 6)],
        reason=REASON,
        actor=people["registry"],
    )
    client = web(people["registry"])
    url = reverse("payments:promotion_edit", args=[promotion.pk])
    page = client.get(url).content.decode()
    assert 'name="links-0-configuration_id" value="6"' in page
    data = form(new_flow, links=[("Contact Centre", 7)])
    response = client.post(url, data)
    assert response.status_code == 302
    extra = promotion.changes.filter(kind=ChangeKind.LINK).order_by("position")[1]
    assert extra.configuration_id == 7


# --- The comparison page's prefilled request ------------------------------------------------


def test_change_set_comparison_offers_a_prefilled_link_request(people, promoted_699):
    html = web(people["registry"]).get(reverse("payments:environments")).content.decode()
    row = compare_row(html, 699, "Contact Centre")
    assert "production link missing" in row
    flow = promoted_699.source_flow
    query = (
        f"?source_flow={flow.pk}&amp;target_account={account('Contact Centre').pk}"
        "&amp;production_flow_number=424"
    )
    assert query in row and "Request link of flow 424" in row
    # Production has its link: nothing to offer there.
    assert "Request link" not in compare_row(html, 699, "Production")
    # Auditors see the finding but may not request.
    auditor = web(people["auditor"]).get(reverse("payments:environments")).content.decode()
    assert "Request link" not in compare_row(auditor, 699, "Contact Centre")


def test_change_set_prefilled_form_requests_exactly_that_link(people, promoted_699):
    client = web(people["registry"])
    flow, target = promoted_699.source_flow, account("Contact Centre")
    url = (
        reverse("payments:promotion_new")
        + f"?source_flow={flow.pk}&target_account={target.pk}&production_flow_number=424"
    )
    page = client.get(url).content.decode()
    assert 'name="production_flow_number" value="424"' in page
    assert f'<option value="{target.pk}" selected>' in page
    response = client.post(
        reverse("payments:promotion_new"),
        form(flow, target_account=target.pk, configuration_id=6),
    )
    assert response.status_code == 302
    promotion = Promotion.objects.exclude(pk=promoted_699.pk).get()
    assert [c.kind for c in promotion.changes.all()] == [ChangeKind.LINK]
    html = client.get(reverse("payments:environments")).content.decode()
    assert f"#{promotion.pk} requested" in compare_row(html, 699, "Contact Centre")


# --- The API ------------------------------------------------------------------------------


def api_body(flow, **overrides) -> dict:
    body = {
        "sourceFlow": flow.number,
        "targetAccount": "Production",
        "productionFlowNumber": 424,
        "configurationId": 3,
        "reason": REASON,
    }
    body.update(overrides)
    return body


def test_change_set_api_request_with_links(people, new_flow):
    response = api(people["registry"]).post(
        "/api/v1/promotions",
        api_body(new_flow, links=[{"targetAccount": "Contact Centre", "configurationId": 6}]),
        "application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["changes"] == [
        "create production flow 424",
        "link Production id 3 → flow 424",
        "link Contact Centre id 6 → flow 424",
    ]


def test_change_set_api_links_an_existing_lineage_flow(people, promoted_699):
    response = api(people["registry"]).post(
        "/api/v1/promotions",
        api_body(promoted_699.source_flow, targetAccount="Contact Centre", configurationId=6),
        "application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["changes"] == ["link Contact Centre id 6 → flow 424"]


def test_change_set_api_refusal_of_a_further_link_names_the_field(people, new_flow):
    response = api(people["registry"]).post(
        "/api/v1/promotions",
        api_body(new_flow, links=[{"targetAccount": "Sandbox", "configurationId": 9}]),
        "application/json",
    )
    assert response.status_code == 422, response.content
    assert any(
        error["loc"] == ["body", "links"] and "sandbox account" in error["msg"]
        for error in response.json()["errors"]
    ), response.json()


def test_change_set_api_unknown_further_account_is_404(people, new_flow):
    response = api(people["registry"]).post(
        "/api/v1/promotions",
        api_body(new_flow, links=[{"targetAccount": "Nowhere", "configurationId": 9}]),
        "application/json",
    )
    assert response.status_code == 404
    assert not Promotion.objects.exists()


def test_change_set_api_apply_of_a_set_through_the_page(people, new_flow):
    """Approve and apply a set made through the API, on the promotion page."""
    created = api(people["registry"]).post(
        "/api/v1/promotions",
        api_body(new_flow, links=[{"targetAccount": "Contact Centre", "configurationId": 6}]),
        "application/json",
    )
    promotion = Promotion.objects.get(pk=created.json()["id"])
    approver = web(people["approver"])
    step = "payments:promotion_step"
    approver.post(
        reverse(step, args=[promotion.pk, "approve"]), {"seen": created.json()["version"]}
    )
    approver.post(reverse(step, args=[promotion.pk, "apply"]))
    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPLIED
    assert AccountConfiguration.objects.filter(flow__number=424).count() == 2
