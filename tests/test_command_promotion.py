"""`manage.py promotion`: show, request and approve from the command line (docs/ARCHITECTURE.md).

The refusals it shares with the page, the admin and the API are in
tests/test_promotion_front_doors.py; these are the command's own answers.
"""

import json

import pytest

from payments.models import (
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionState,
    Stage,
)
from tests.test_promotion_front_doors import REASON, cli, cli_refusal, cli_request_args


def test_requested_shown_and_approved_from_the_command_line(people, new_flow):
    printed = cli(*cli_request_args(people["registry"], new_flow))
    promotion = Promotion.objects.get()
    assert printed.startswith(f"Promotion #{promotion.pk} (requested): flow 697 on ")
    assert "→ 424 on Production id 3, requested by registry." in printed

    shown = json.loads(cli("show", str(promotion.pk), "--as", "approver", "--json"))
    assert shown["reason"] == REASON and "approve" in shown["steps"]
    cli("approve", str(promotion.pk), "--as", "approver", "--seen", shown["version"])

    promotion.refresh_from_db()
    assert promotion.state == PromotionState.APPROVED
    assert promotion.approved_by == people["approver"]
    approved = AuditEvent.objects.get(action="promotion.approved", outcome="success")
    assert approved.actor_name == "approver"
    assert approved.origin.startswith("manage.py promotion (host user ")


def test_an_approval_of_a_version_since_changed_is_refused(people, new_flow):
    cli(*cli_request_args(people["registry"], new_flow))
    promotion = Promotion.objects.get()
    old = promotion.updated_at.isoformat()
    promotion.reason = "changed after it was read"
    promotion.save()

    refusal = cli_refusal("approve", str(promotion.pk), "--as", "approver", "--seen", old)

    assert "changed" in refusal
    assert Promotion.objects.get().state == PromotionState.REQUESTED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "999", "--as", "approver"], "There is no promotion #999."),
        (["show", "1"], "Say who is acting with --as USERNAME"),
        (["show", "1", "--as", "nobody"], "No active registry user 'nobody'"),
        (["show", "1", "--as", "agent"], "agent may not see promotions"),
        (["approve", "1", "--as", "approver", "--seen", "yesterday"], "is not a version"),
        (["approve", "1", "--as", "approver", "--seen", "2026-13-45T99:00"], "is not a version"),
    ],
)
def test_the_command_says_what_is_wrong_in_one_line(demo, args, message):
    assert message in cli_refusal(*args)


def test_a_flow_number_on_two_staging_nodes_asks_for_the_node(people, new_flow):
    other = PciEnvironment.objects.create(stage=Stage.STAGING, name="PCI Pal staging 2")
    PaymentFlow.objects.create(environment=other, number=697, name="Card payment, node 2")
    args = cli_request_args(people["registry"], new_flow)

    assert "Several staging nodes have flow 697" in cli_refusal(*args)
    cli(*args, "--source-environment", "PCI Pal staging 2")

    assert Promotion.objects.get().source_flow.environment == other


def test_an_unknown_target_account_is_named(people, new_flow):
    args = cli_request_args(people["registry"], new_flow)
    args[args.index("Production")] = "Nowhere"
    assert "There is no VCC account named 'Nowhere'." in cli_refusal(*args)
    assert not Promotion.objects.exists()
