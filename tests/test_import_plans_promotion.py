"""Issue 13 item 6: an import plans its production changes as a pending promotion."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import (
    AccountConfiguration,
    AuditEvent,
    AuditOutcome,
    ChangeKind,
    PaymentFlow,
    Promotion,
    PromotionState,
)
from payments.selectors.registry_export import registry_export
from payments.services import promotion_apply, promotion_approve
from payments.services.registry_io import RegistryFileError, registry_import
from tests.test_production_gate import production_flow_424

pytestmark = pytest.mark.django_db


def staging_rename(document: dict) -> dict:
    entry = next(item for item in document["flows"] if item["number"] == 695)
    entry["name"] = "Card payment (staging rename)"
    return document


def link_422_on_contact_centre(document: dict) -> dict:
    document["links"].append(
        {
            "account": "Contact Centre",
            "configuration_id": 6,
            "flow": {"environment": "PCI Pal production", "number": 422},
        }
    )
    return document


def test_import_plans_production_flow_424_as_one_pending_promotion(people):
    document = staging_rename(production_flow_424(registry_export()))
    result = registry_import(
        document=document, actor=people["registry"], environ={}, source="registry.json"
    )
    [promotion] = Promotion.objects.all()
    assert [plan.promotion for plan in result.promotions] == [promotion]
    assert promotion.state == PromotionState.REQUESTED
    assert promotion.requested_by == people["registry"]
    assert promotion.source_flow.number == 699
    assert promotion.production_flow_number == 424
    assert (promotion.target_account.name, promotion.configuration_id) == ("Production", 3)
    assert promotion.reason == (
        "Planned by import_registry from registry.json: 2 production change(s)"
    )
    assert [change.kind for change in promotion.changes.order_by("position")] == [
        ChangeKind.CREATE_FLOW,
        ChangeKind.LINK,
    ]
    # Nothing of production is written yet; the staging change in the same file is.
    assert not PaymentFlow.objects.filter(number=424).exists()
    assert PaymentFlow.objects.get(number=695).name == "Card payment (staging rename)"
    [imported] = AuditEvent.objects.filter(action="registry.imported")
    assert imported.outcome == AuditOutcome.SUCCESS
    assert imported.after["promotions"] == [promotion.pk]
    requested = AuditEvent.objects.get(action="promotion.requested")
    assert requested.actor == people["registry"]
    assert AuditEvent.objects.filter(action="paymentflow.changed", object_id="").count() == 0


def test_the_planned_promotion_is_approved_and_applied_by_another_user(people):
    registry_import(
        document=production_flow_424(registry_export()), actor=people["registry"], environ={}
    )
    promotion = Promotion.objects.get()
    promotion = promotion_approve(promotion=promotion, actor=people["approver"])
    promotion_apply(promotion=promotion, actor=people["approver"])
    created = PaymentFlow.objects.get(number=424)
    assert created.promoted_from.number == 699
    link = AccountConfiguration.objects.get(account__name="Production", configuration_id=3)
    assert link.flow == created and link.is_active
    # Exported again and imported: production now matches, nothing more to plan.
    again = registry_import(document=registry_export(), actor=people["registry"], environ={})
    assert again.production_changes == [] and Promotion.objects.count() == 1


def test_import_plans_a_link_of_existing_production_flow_422(people):
    # Contact Centre's own promotion of 695 (id 4) is switched off, so 422 may be linked anew.
    AccountConfiguration.objects.filter(account__name="Contact Centre", configuration_id=4).update(
        is_active=False
    )
    registry_import(
        document=link_422_on_contact_centre(registry_export()),
        actor=people["registry"],
        environ={},
    )
    promotion = Promotion.objects.get()
    assert (promotion.source_flow.number, promotion.production_flow_number) == (695, 422)
    [change] = promotion.changes.all()
    assert change.kind == ChangeKind.LINK
    assert change.flow.number == 422 and change.configuration_id == 6
    assert not AccountConfiguration.objects.filter(configuration_id=6).exists()


def test_import_switching_a_production_link_off_joins_the_planned_promotion(people):
    document = production_flow_424(registry_export())
    old = next(
        item
        for item in document["links"]
        if (item["account"], item["configuration_id"]) == ("Production", 1)
    )
    old["is_active"] = False
    registry_import(document=document, actor=people["registry"], environ={})
    promotion = Promotion.objects.get()
    kinds = [change.kind for change in promotion.changes.order_by("position")]
    assert kinds == [ChangeKind.CREATE_FLOW, ChangeKind.LINK, ChangeKind.DEACTIVATE]
    still = AccountConfiguration.objects.get(account__name="Production", configuration_id=1)
    assert still.is_active


def test_a_promotion_the_rules_refuse_refuses_the_whole_import(people):
    # Contact Centre already has 695 promoted (id 4 -> 422): the promotion names it.
    document = staging_rename(link_422_on_contact_centre(registry_export()))
    with pytest.raises(RegistryFileError, match="already promoted to Contact Centre"):
        registry_import(document=document, actor=people["registry"], environ={})
    assert not Promotion.objects.exists()
    assert PaymentFlow.objects.get(number=695).name == "Card payment"


def test_an_unexpressible_production_change_refuses_the_whole_import(people):
    document = staging_rename(production_flow_424(registry_export()))
    production = next(item for item in document["flows"] if item["number"] == 422)
    production["name"] = "Renamed in the file"
    with pytest.raises(RegistryFileError) as error:
        registry_import(document=document, actor=people["registry"], environ={})
    problems = "\n".join(error.value.problems)
    assert "~ update flow 422 on 'PCI Pal production': name" in problems
    assert "no promotion can make" in problems and "break-glass" in problems
    assert "flow 424" not in problems  # only what cannot be planned is named
    assert not Promotion.objects.exists()
    assert PaymentFlow.objects.get(number=695).name == "Card payment"
    assert PaymentFlow.objects.get(number=422).name == "Card payment"
    denied = AuditEvent.objects.get(action="registry.imported", outcome=AuditOutcome.DENIED)
    assert "flow 422" in denied.reason


def test_an_account_kind_change_is_refused_not_planned(people):
    document = production_flow_424(registry_export())
    production = next(item for item in document["accounts"] if item["name"] == "Production")
    production["kind"] = "combined"
    with pytest.raises(RegistryFileError, match="account 'Production'.*no promotion can make"):
        registry_import(document=document, actor=people["registry"], environ={})
    assert not Promotion.objects.exists()


def test_import_dry_run_says_which_promotion_each_change_goes_into(people, tmp_path):
    document = staging_rename(production_flow_424(registry_export()))
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    out = StringIO()
    call_command("import_registry", str(path), "--dry-run", "--actor", "registry", stdout=out)
    text = out.getvalue()
    direct, planned = text.split("Needs a promotion (1 of 1: flow 699 on 'PCI Pal staging' -> ")
    assert "~ update flow 695 on 'PCI Pal staging'" in direct
    assert planned.startswith("flow 424 on 'PCI Pal production'")
    assert "+ create flow 424" in planned and "+ create link 'Production' id 3" in planned
    assert "2 production change(s) need a promotion (1 promotion(s)" in text
    assert not Promotion.objects.exists()
    assert PaymentFlow.objects.get(number=695).name == "Card payment"


def test_import_dry_run_lists_what_would_be_refused(people, tmp_path):
    document = registry_export()
    next(item for item in document["flows"] if item["number"] == 422)["name"] = "Renamed"
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    out = StringIO()
    call_command("import_registry", str(path), "--dry-run", "--actor", "registry", stdout=out)
    assert "Refused (no promotion can make these" in out.getvalue()
    assert "~ update flow 422" in out.getvalue()


def test_import_registry_prints_the_promotion_url(people, tmp_path, settings):
    settings.SITE_URL = "https://registry.example"
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(production_flow_424(registry_export())))
    out = StringIO()
    call_command("import_registry", str(path), "--actor", "registry", stdout=out)
    promotion = Promotion.objects.get()
    text = out.getvalue()
    assert f"https://registry.example/promotions/{promotion.pk}/" in text
    assert "2 production change(s) planned as 1 pending promotion(s)" in text


def test_import_registry_refusal_is_reported_by_the_command(people, tmp_path):
    document = registry_export()
    next(item for item in document["flows"] if item["number"] == 422)["name"] = "Renamed"
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="the registry is unchanged"):
        call_command("import_registry", str(path), "--actor", "registry", stdout=StringIO())
