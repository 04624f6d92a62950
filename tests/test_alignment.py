"""The configuration-id alignment report, on registry data with and without an id collision."""

import pytest

from payments.models import AccountConfiguration, AccountKind, PaymentFlow, VccAccount
from payments.selectors.alignment import (
    ALIGNED,
    COLLISION,
    RENUMBERED,
    alignment_report,
    alignment_warnings,
)
from payments.services.registry import registry_save


def statuses() -> dict[int, str]:
    return {finding.configuration_id: finding.status for finding in alignment_report()}


def add_link(account: VccAccount, configuration_id: int, flow_number: int, stage: str):
    flow = PaymentFlow.objects.get(number=flow_number, environment__stage=stage)
    link = AccountConfiguration(account=account, configuration_id=configuration_id, flow=flow)
    # Test data, not a change: production links are written only by a promotion or a restore.
    registry_save(instance=link, actor=None, reason="test", restore=True)
    return link


def test_alignment_demo_ids_are_lineage_aligned(demo):
    # Id 1 starts 695 on Sandbox and Contact Centre and 422 (promoted from 695) on Production.
    assert statuses() == {1: ALIGNED, 2: ALIGNED, 3: ALIGNED}
    first = next(f for f in alignment_report() if f.configuration_id == 1)
    assert sorted(use.account for use in first.uses) == ["Contact Centre", "Production", "Sandbox"]


def test_alignment_id_collision_is_found(demo):
    production = VccAccount.objects.get(name="Production")
    add_link(production, 3, 423, "production")  # Card refund; id 3 is 699 elsewhere

    finding = next(f for f in alignment_report() if f.configuration_id == 3)

    assert finding.status == COLLISION
    assert statuses()[1] == ALIGNED
    assert "on Production flow 423" in finding.detail and "on Sandbox flow 699" in finding.detail


def test_alignment_renumbered_ids_say_which_id_each_account_uses(demo):
    other = VccAccount(name="Production two", kind=AccountKind.PRODUCTION)
    registry_save(instance=other, actor=None, reason="test")
    add_link(other, 1, 423, "production")  # the lineages of ids 1 and 2 swapped
    add_link(other, 2, 422, "production")

    report = {f.configuration_id: f for f in alignment_report()}

    assert report[1].status == RENUMBERED and report[2].status == RENUMBERED
    on_other = next(use for use in report[1].uses if use.account == "Production two")
    assert on_other.elsewhere["Production"] == [2]
    assert on_other.elsewhere["Sandbox"] == [2]
    assert "Production two uses id 2" in report[1].detail


def test_alignment_inactive_links_do_not_count(demo):
    link = add_link(VccAccount.objects.get(name="Production"), 3, 423, "production")
    link.is_active = False
    # Test data, not a change: production links are written only by a promotion or a restore.
    registry_save(instance=link, actor=None, reason="test", restore=True)

    assert statuses()[3] == ALIGNED


def test_alignment_warnings_name_the_other_flow(demo):
    add_link(VccAccount.objects.get(name="Production"), 3, 423, "production")

    warnings = alignment_warnings(AccountConfiguration.objects.find("Sandbox", 3))

    assert len(warnings) == 1
    assert "on Production it starts flow 423" in warnings[0]
    assert alignment_warnings(AccountConfiguration.objects.find("Sandbox", 1)) == []


@pytest.mark.parametrize("account", ["Sandbox", "Contact Centre"])
def test_alignment_warnings_none_for_an_aligned_id(demo, account):
    assert alignment_warnings(AccountConfiguration.objects.find(account, 3)) == []


def test_alignment_shown_on_the_comparison_page(client, people):
    add_link(VccAccount.objects.get(name="Production"), 3, 423, "production")
    client.force_login(people["auditor"])

    page = client.get("/promotions/environments/").content.decode()

    assert "Configuration ids across accounts" in page
    assert '<span class="badge bad">collision</span>' in page
