import copy
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from payments.selectors.registry_export import registry_dumps, registry_export
from payments.services.registry_io import RegistryFileError, registry_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def exported(demo) -> dict:
    return registry_export()


@pytest.fixture
def registry_admin(demo):
    """An import needs an actor allowed to request promotions."""
    from django.contrib.auth.models import User

    return User.objects.get(username="registry")


@pytest.fixture
def superuser(demo):
    """Only a superuser restores a whole file into an empty registry."""
    from django.contrib.auth.models import User

    return User.objects.get(username="admin")


@pytest.fixture
def secrets_env(exported) -> dict[str, str]:
    """The environment an operator would set: each named variable holds the stored secret."""
    return {
        entry["client_secret_env"]: ApiCredential.objects.get(
            client_id=entry["client_id"]
        ).client_secret
        for entry in exported["credentials"]
        if entry["client_secret_env"]
    }


def empty_the_registry() -> None:
    AccountConfiguration.objects.all().delete()
    ApiCredential.objects.all().delete()
    VccAccount.objects.all().delete()
    PaymentFlow.objects.exclude(promoted_from=None).delete()
    PaymentFlow.objects.all().delete()
    PciEnvironment.objects.all().delete()


def database_state() -> tuple[str, int]:
    return registry_dumps(registry_export()), AuditEvent.objects.count()


def registry_user():
    """The demo's registry admin: may request promotions, so may import."""
    from django.contrib.auth.models import User

    return User.objects.get(username="registry")


def entry(document: dict, section: str, **match) -> dict:
    return next(item for item in document[section] if all(item[k] == v for k, v in match.items()))


# --- export -----------------------------------------------------------------------


def test_export_lists_each_section_in_a_stable_order(exported):
    assert exported["format"] == "vcc-registry/1"
    assert [env["name"] for env in exported["environments"]] == [
        "PCI Pal production",
        "PCI Pal staging",
    ]
    assert [account["name"] for account in exported["accounts"]] == [
        "Contact Centre",
        "Production",
        "Sandbox",
    ]
    assert [(link["account"], link["configuration_id"]) for link in exported["links"]][:5] == [
        ("Contact Centre", 1),
        ("Contact Centre", 2),
        ("Contact Centre", 3),
        ("Contact Centre", 4),
        ("Contact Centre", 5),
    ]


def test_export_keeps_flow_lineage(exported):
    flow = entry(exported, "flows", number=422)
    assert flow["promoted_from"] == {"environment": "PCI Pal staging", "number": 695}


def test_export_names_credentials_by_label_client_id_and_fingerprint(exported):
    credential = entry(exported, "credentials", account="Sandbox", label="A")
    stored = ApiCredential.objects.get(client_id="sandbox-client-a")
    assert credential == {
        "account": "Sandbox",
        "label": "A",
        "client_id": "sandbox-client-a",
        "allowed_environments": "staging",
        "is_enabled": True,
        "fingerprint": stored.secret_fingerprint,
        "client_secret_env": "VCC_SANDBOX_A_SECRET",
    }


def test_export_never_contains_a_secret(exported):
    text = registry_dumps(exported)
    for credential in ApiCredential.objects.all():
        assert credential.client_secret not in text
    assert "gAAAA" not in text


def test_export_twice_is_byte_identical(demo):
    assert registry_dumps(registry_export()) == registry_dumps(registry_export())


def test_export_writes_one_key_per_line(exported):
    """The file parses back to the export, and renaming one flow changes exactly one line."""
    text = registry_dumps(exported)
    assert json.loads(text) == exported
    assert text.endswith("}\n") and not text.endswith("\n\n")
    renamed = copy.deepcopy(exported)
    entry(renamed, "flows", number=695)["name"] = "Renamed flow"
    before, after = text.splitlines(), registry_dumps(renamed).splitlines()
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 1
    old_line, new_line = changed[0]
    assert json.loads("{" + new_line.strip().rstrip(",") + "}") == {"name": "Renamed flow"}
    assert json.loads("{" + old_line.strip().rstrip(",") + "}") == {"name": "Card payment"}


# --- round trip -------------------------------------------------------------------


def test_export_import_into_an_empty_database_export_again_is_identical(
    exported, secrets_env, superuser
):
    first = registry_dumps(exported)
    empty_the_registry()
    result = registry_import(
        document=json.loads(first), environ=secrets_env, source="r.json", actor=superuser
    )
    assert result.applied and result.not_in_file == []
    assert registry_dumps(registry_export()) == first


def test_round_trip_restores_the_secrets_from_the_environment(exported, secrets_env, superuser):
    empty_the_registry()
    registry_import(document=exported, environ=secrets_env, actor=superuser)
    credential = ApiCredential.objects.get(client_id="production-client-b")
    assert credential.client_secret == secrets_env["VCC_PRODUCTION_B_SECRET"]


def test_importing_the_exported_file_again_changes_nothing(exported):
    before = database_state()
    result = registry_import(actor=registry_user(), document=exported, environ={})
    assert result.changes == []
    assert result.unchanged == 2 + 5 + 3 + 4 + 10
    # Only the summary event of the import itself.
    assert AuditEvent.objects.count() == before[1] + 1
    assert database_state()[0] == before[0]


def test_import_applies_changes_through_the_services_with_audit(exported):
    entry(exported, "accounts", name="Sandbox")["region"] = "nam"
    entry(exported, "accounts", name="Sandbox")["auth_base_url"] = "http://127.0.0.1:8200"
    result = registry_import(
        actor=registry_user(), document=exported, environ={}, source="registry.json"
    )
    assert [str(change) for change in result.changes] == [
        "~ update account 'Sandbox': region: 'emea' -> 'nam'; "
        "auth_base_url: 'http://127.0.0.1:8100' -> 'http://127.0.0.1:8200'"
    ]
    event = AuditEvent.objects.filter(action="vccaccount.changed").get()
    assert event.reason == "import_registry registry.json"
    assert event.after["region"] == "nam"
    summary = AuditEvent.objects.filter(action="registry.imported").get()
    assert summary.after["updated"] == 1


def test_import_creates_a_new_link_and_flow_in_lineage_order(exported, secrets_env, superuser):
    # A production flow and link: only a restore into an empty registry writes them.
    empty_the_registry()
    exported["flows"].insert(
        0,
        {
            "environment": "PCI Pal production",
            "number": 424,
            "name": "Card topup",
            "promoted_from": {"environment": "PCI Pal staging", "number": 697},
        },
    )
    exported["flows"].append(
        {"environment": "PCI Pal staging", "number": 697, "name": "Card topup"}
    )
    exported["links"].append(
        {
            "account": "Production",
            "configuration_id": 3,
            "flow": {"environment": "PCI Pal production", "number": 424},
        }
    )
    registry_import(actor=superuser, document=exported, environ=secrets_env)
    link = AccountConfiguration.objects.get(account__name="Production", configuration_id=3)
    assert link.flow.number == 424
    assert link.flow.promoted_from.number == 697


def test_import_reads_the_registry_in_the_same_queries_however_many_links(demo):
    """No query per row: the existing objects are read once per model."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_to_reimport() -> int:
        document = registry_export()
        with CaptureQueriesContext(connection) as queries:
            assert (
                registry_import(actor=registry_user(), document=document, environ={}).changes == []
            )
        return len(queries)

    few = queries_to_reimport()
    flow = PaymentFlow.objects.filter(environment__stage="staging").first()
    account = VccAccount.objects.get(name="Sandbox")
    AccountConfiguration.objects.bulk_create(
        AccountConfiguration(account=account, configuration_id=1000 + n, flow=flow)
        for n in range(200)
    )
    assert queries_to_reimport() == few


def test_objects_missing_from_the_file_are_reported_and_left_alone(exported):
    exported["links"] = [link for link in exported["links"] if link["account"] != "Sandbox"]
    result = registry_import(actor=registry_user(), document=exported, environ={})
    assert len(result.not_in_file) == 3
    assert "Sandbox · id 1" in result.not_in_file[0]
    assert AccountConfiguration.objects.filter(account__name="Sandbox").count() == 3


# --- dry run and broken files ----------------------------------------------------------


def test_dry_run_reports_the_changes_and_writes_nothing(exported):
    entry(exported, "flows", number=695)["name"] = "Card payment v2"
    exported["environments"].append({"name": "PCI Pal UAT", "stage": "staging"})
    before = database_state()
    result = registry_import(actor=registry_user(), document=exported, environ={}, dry_run=True)
    assert not result.applied
    assert [change.action for change in result.changes] == ["create", "update"]
    assert database_state() == before


def test_a_file_that_breaks_an_invariant_changes_nothing(exported):
    entry(exported, "accounts", name="Contact Centre")["notes"] = "valid change, applied first"
    entry(exported, "links", account="Sandbox", configuration_id=2)["flow"] = {
        "environment": "PCI Pal production",
        "number": 423,
    }
    before = database_state()
    with pytest.raises(RegistryFileError) as error:
        registry_import(actor=registry_user(), document=exported, environ={})
    assert error.value.problems == [
        "link 'Sandbox' id 2: flow: Sandbox is a sandbox account: it can only link to staging "
        "flows, and Flow 423 “Card refund” · production is on production."
    ]
    assert database_state() == before


def test_a_broken_file_lists_every_problem_and_changes_nothing(exported):
    exported["accounts"][0]["kind"] = "test"
    exported["links"][0]["configuration_id"] = "one"
    exported["flows"][0]["colour"] = "blue"
    before = database_state()
    with pytest.raises(RegistryFileError) as error:
        registry_import(actor=registry_user(), document=exported, environ={})
    assert error.value.problems == [
        "flows[0].colour: unknown field; remove it (export_registry writes every field there is).",
        "accounts[0].kind: Input should be 'sandbox', 'production' or 'combined'.",
        "links[0].configuration_id: Input should be a valid integer.",
    ]
    assert database_state() == before


def test_a_reference_to_a_missing_flow_is_refused(exported):
    entry(exported, "links", account="Sandbox", configuration_id=1)["flow"]["number"] = 999
    with pytest.raises(RegistryFileError, match=r"links\[\d\]\.flow: flow 999 .* is not in flows"):
        registry_import(actor=registry_user(), document=exported, environ={})


def test_duplicate_entries_are_refused(exported):
    exported["accounts"].append(copy.deepcopy(exported["accounts"][0]))
    with pytest.raises(RegistryFileError, match="accounts: Contact Centre appears 2 times"):
        registry_import(actor=registry_user(), document=exported, environ={})


def test_a_file_that_is_not_an_object_is_refused(demo):
    with pytest.raises(RegistryFileError, match="must be a JSON object"):
        registry_import(actor=registry_user(), document=[], environ={})


def test_a_file_of_another_format_is_refused(exported):
    exported["format"] = "something-else"
    with pytest.raises(RegistryFileError, match='format: must be "vcc-registry/1"'):
        registry_import(actor=registry_user(), document=exported, environ={})


# --- secrets ----------------------------------------------------------------------


def test_an_inline_secret_is_refused_with_a_clear_message(exported):
    entry(exported, "credentials", account="Sandbox")["client_secret"] = "inline-value-1234"
    before = database_state()
    with pytest.raises(RegistryFileError) as error:
        registry_import(actor=registry_user(), document=exported, environ={})
    (problem,) = error.value.problems
    assert problem.startswith("credentials[3].client_secret: inline secrets are refused")
    assert '"client_secret_env"' in problem
    assert "inline-value-1234" not in problem
    assert database_state() == before


def test_a_new_credential_takes_its_secret_from_the_named_variable(exported):
    exported["credentials"].append(
        {
            "account": "Sandbox",
            "label": "C",
            "client_id": "sandbox-client-c",
            "client_secret_env": "VCC_SANDBOX_C_SECRET",
        }
    )
    registry_import(
        actor=registry_user(),
        document=exported,
        environ={"VCC_SANDBOX_C_SECRET": "from-the-env-0001"},
    )
    assert ApiCredential.objects.get(label="C").client_secret == "from-the-env-0001"


def test_a_new_credential_whose_variable_is_unset_is_refused(exported):
    exported["credentials"].append(
        {
            "account": "Sandbox",
            "label": "C",
            "client_id": "sandbox-client-c",
            "client_secret_env": "VCC_SANDBOX_C_SECRET",
        }
    )
    with pytest.raises(RegistryFileError, match="VCC_SANDBOX_C_SECRET is not set"):
        registry_import(actor=registry_user(), document=exported, environ={})
    assert not ApiCredential.objects.filter(label="C").exists()


def test_an_existing_credential_keeps_its_secret_when_the_variable_is_unset(exported):
    stored = ApiCredential.objects.get(client_id="sandbox-client-a").client_secret
    registry_import(actor=registry_user(), document=exported, environ={})
    assert ApiCredential.objects.get(client_id="sandbox-client-a").client_secret == stored


def test_a_different_secret_in_the_variable_rotates_it_with_audit(exported):
    result = registry_import(
        actor=registry_user(),
        document=exported,
        environ={"VCC_SANDBOX_A_SECRET": "rotated-secret-0002"},
    )
    assert [str(change) for change in result.changes] == [
        "~ update credential 'A' on 'Sandbox': secret: None -> 'from $VCC_SANDBOX_A_SECRET'"
    ]
    assert ApiCredential.objects.get(client_id="sandbox-client-a").client_secret == (
        "rotated-secret-0002"
    )
    assert AuditEvent.objects.filter(action="credential.secret_rotated").count() == 1
    assert "rotated-secret-0002" not in str(list(AuditEvent.objects.values()))


def test_an_invalid_variable_name_is_refused(exported):
    entry(exported, "credentials", account="Sandbox")["client_secret_env"] = "not a name"
    with pytest.raises(RegistryFileError, match="is not an environment variable name"):
        registry_import(actor=registry_user(), document=exported, environ={})


# --- commands ---------------------------------------------------------------------


def run(command, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_export_registry_command_writes_the_file(demo, tmp_path):
    path = tmp_path / "registry.json"
    run("export_registry", "--output", str(path))
    assert path.read_text() == registry_dumps(registry_export())


def test_export_registry_command_prints_to_stdout(demo):
    assert json.loads(run("export_registry"))["format"] == "vcc-registry/1"


def test_import_registry_dry_run_prints_the_changes(exported, tmp_path):
    entry(exported, "flows", number=695)["name"] = "Card payment v2"
    path = tmp_path / "registry.json"
    path.write_text(registry_dumps(exported))
    output = run("import_registry", str(path), "--dry-run", "--actor", "registry")
    assert "~ update flow 695 on 'PCI Pal staging': name: 'Card payment' -> 'Card payment v2'" in (
        output
    )
    assert "Dry run: 1 change(s)" in output
    assert PaymentFlow.objects.get(number=695).name == "Card payment"


def test_import_registry_records_the_actor(exported, tmp_path):
    entry(exported, "flows", number=695)["name"] = "Card payment v2"
    path = tmp_path / "registry.json"
    path.write_text(registry_dumps(exported))
    output = run("import_registry", str(path), "--actor", "registry")
    assert "Imported: 1 change(s)" in output
    assert AuditEvent.objects.get(action="paymentflow.changed").actor_name == "registry"


def test_import_registry_invalid_json_says_where(db, tmp_path):
    path = tmp_path / "registry.json"
    path.write_text('{"format": "vcc-registry/1",\n "flows": [}\n')
    with pytest.raises(CommandError, match="not valid JSON: .* line 2, column 12"):
        run("import_registry", str(path))


def test_import_registry_missing_file_says_so(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.json: No such file"):
        run("import_registry", str(tmp_path / "missing.json"))


def test_import_registry_lists_problems_and_says_nothing_changed(exported, tmp_path):
    entry(exported, "credentials", account="Sandbox")["client_secret"] = "inline-value-1234"
    path = tmp_path / "registry.json"
    path.write_text(registry_dumps(exported))
    with pytest.raises(CommandError, match="the registry is unchanged") as error:
        run("import_registry", str(path), "--actor", "registry")
    assert "inline-value-1234" not in str(error.value)
