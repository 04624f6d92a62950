"""Hostile registry files get a clear error (or a reported change), never a traceback."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from payments.models import ApiCredential, PaymentFlow
from payments.selectors.registry_export import registry_export
from payments.services.registry_io import RegistryFileError, registry_import

pytestmark = pytest.mark.django_db


def registry_user():
    """The demo's registry admin: an actor allowed to import (and to request promotions)."""
    from django.contrib.auth.models import User

    return User.objects.get(username="registry")


@pytest.fixture
def exported(demo) -> dict:
    return registry_export()


def flow(document: dict, number: int) -> dict:
    return next(item for item in document["flows"] if item["number"] == number)


def import_file(tmp_path, text: str) -> str:
    path = tmp_path / "registry.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError) as excinfo:
        call_command("import_registry", str(path), "--actor", "registry")
    return str(excinfo.value)


@pytest.mark.parametrize(
    "variable", ["FIELD_ENCRYPTION_KEY", "SECRET_KEY", "VCC_WEBHOOK_TOKEN", "DEMO_PASSWORD"]
)
def test_a_secret_from_outside_the_namespace_is_refused_naming_the_rule(exported, variable):
    credential = exported["credentials"][0]
    credential["client_secret_env"] = variable
    with pytest.raises(RegistryFileError) as excinfo:
        registry_import(
            actor=registry_user(),
            document=exported,
            environ={variable: "the-deployment-key-0123456789"},
        )
    assert f"client_secret_env {variable!r} is outside the namespace" in str(excinfo.value)
    assert "must match VCC_*_SECRET (setting REGISTRY_SECRET_ENV_PATTERN)" in str(excinfo.value)
    stored = ApiCredential.objects.get(client_id=credential["client_id"]).client_secret
    assert stored != "the-deployment-key-0123456789"


def test_the_secret_namespace_is_a_setting(exported, settings):
    settings.REGISTRY_SECRET_ENV_PATTERN = "ACME_*"
    with pytest.raises(RegistryFileError, match="must match ACME_\\*"):
        registry_import(actor=registry_user(), document=exported, environ={})


def test_json_nested_100000_deep_is_a_clear_error(tmp_path):
    message = import_file(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in message and "Nothing was imported" in message


def test_a_deep_document_passed_as_objects_is_a_clear_error(demo):
    document: list = []
    for _ in range(50_000):
        document = [document]
    with pytest.raises(RegistryFileError, match="nested deeper than 20 levels"):
        registry_import(
            actor=registry_user(),
            document={"format": "vcc-registry/1", "flows": document},
            environ={},
        )


def test_a_lone_surrogate_is_a_clear_error(exported, tmp_path):
    text = json.dumps(exported).replace('"Card payment"', '"Card \\ud800 payment"', 1)
    message = import_file(tmp_path, text)
    assert "contains a lone surrogate" in message
    assert PaymentFlow.objects.filter(name="Card payment").count() == 2


def test_a_nul_character_is_a_clear_error_on_every_database(exported, tmp_path):
    text = json.dumps(exported).replace('"Card payment"', '"Card \\u0000 payment"', 1)
    message = import_file(tmp_path, text)
    assert "flows[0].name: contains a NUL character" in message
    assert list(PaymentFlow.objects.filter(number=422).values_list("name", flat=True)) == [
        "Card payment"
    ]


def test_each_bad_character_is_named_by_its_path_in_the_file():
    """The check keeps paths as (parent, key) pairs and spells one out only for a problem: each
    message still names the exact place, for a key, a value, a list item and the nesting."""
    from payments.selectors.registry_file import validate_document

    document = {
        "format": "vcc-registry/1",
        "flows": [{"name": "ok"}, {"na\x00me": "x", "tags": ["fine", "bad \ud800"]}],
        "accounts": [{"credentials": [{"label": "A", "client_secret": "s"}]}],
    }
    with pytest.raises(RegistryFileError) as raised:
        validate_document(document, environ={})
    assert sorted(raised.value.problems) == [
        "flows[1].'na\\x00me' (a key): contains a NUL character (\\u0000); remove it.",
        "flows[1].tags[1]: contains a lone surrogate (an invalid \\ud800-\\udfff escape).",
    ]
    del document["flows"]
    with pytest.raises(RegistryFileError) as raised:
        validate_document(document, environ={})
    assert raised.value.problems == [
        "accounts[0].credentials[0].client_secret: inline secrets are refused. Remove it, put "
        'the secret in an environment variable and name that variable in "client_secret_env".'
    ]
    deep: list = ["x"]
    for _ in range(25):
        deep = [deep]
    with pytest.raises(RegistryFileError) as raised:
        validate_document({"flows": [{"tags": deep}]}, environ={})
    assert raised.value.problems == [
        "the file is nested deeper than 20 levels (at flows[0].tags" + "[0]" * 18 + ")."
    ]


def test_duplicate_keys_are_refused(exported, tmp_path):
    text = json.dumps(exported).replace('"name": "Card payment"', '"name": "A", "name": "B"', 1)
    message = import_file(tmp_path, text)
    assert "the key 'name' appears more than once in one object" in message


def test_a_flow_promoted_from_itself_is_refused(exported):
    production = flow(exported, 422)
    production["promoted_from"] = {"environment": production["environment"], "number": 422}
    with pytest.raises(RegistryFileError, match="flow 422 on 'PCI Pal production' names itself"):
        registry_import(actor=registry_user(), document=exported, environ={})
    assert PaymentFlow.objects.get(number=422).promoted_from.number == 695


def test_a_production_to_production_lineage_is_refused_not_dropped(exported):
    production = flow(exported, 422)
    production["promoted_from"] = {"environment": "PCI Pal production", "number": 423}
    with pytest.raises(RegistryFileError, match="flow 423 on 'PCI Pal production' is not a stag"):
        registry_import(actor=registry_user(), document=exported, environ={})


def test_a_lineage_difference_between_production_flows_is_reported(exported):
    """The stored lineage differs from the file's: a change, not "0 change(s)"."""
    stored = PaymentFlow.objects.get(number=422)
    stored.promoted_from = PaymentFlow.objects.get(number=696)
    stored.save()
    result = registry_import(actor=registry_user(), document=exported, environ={}, dry_run=True)
    # A production flow's lineage changes only through a promotion: reported as one to plan.
    assert [str(change) for change in result.production_changes] == [
        "~ update flow 422 on 'PCI Pal production': promoted_from: "
        "'flow 696 on PCI Pal staging' -> 'flow 695 on PCI Pal staging'"
    ]


def test_a_lineage_whose_origin_comes_later_in_the_file_is_kept(exported):
    """Production lineage is written only by a restore: a superuser into an empty registry."""
    from django.contrib.auth.models import User

    from tests.test_registry_io import empty_the_registry

    flow(exported, 422)["promoted_from"] = {"environment": "PCI Pal staging", "number": 699}
    exported["flows"].sort(key=lambda item: item["number"])  # production flows first
    for item in exported["credentials"]:
        item["client_secret_env"] = None
    empty_the_registry()
    registry_import(actor=User.objects.get(username="admin"), document=exported, environ={})
    assert PaymentFlow.objects.get(number=422).promoted_from.number == 699


def test_a_promoted_from_cycle_is_refused(exported):
    flow(exported, 695)["promoted_from"] = {"environment": "PCI Pal staging", "number": 696}
    flow(exported, 696)["promoted_from"] = {"environment": "PCI Pal staging", "number": 695}
    with pytest.raises(RegistryFileError, match="in a promoted_from cycle"):
        registry_import(actor=registry_user(), document=exported, environ={})
