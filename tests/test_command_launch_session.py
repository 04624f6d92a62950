"""manage.py launch_session: the launch service from the command line."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import AuditEvent, LaunchOutcome, PaymentSession
from tests.conftest import point_accounts_at, provision_from_registry

pytestmark = pytest.mark.django_db

BASE = ["--account", "Sandbox", "--configuration-id", "1", "--as", "agent"]


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("launch_session", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args, code: int = 2) -> str:
    with pytest.raises(CommandError) as info:
        run(*args)
    message = str(info.value)
    assert info.value.returncode == code
    assert "\n" not in message
    return message


def test_json_prints_one_object_with_the_session_guid(emulator):
    out, _ = run(*BASE, "--amount", "12.40", "--currency", "GBP", "--json")
    result = json.loads(out)
    session = PaymentSession.objects.get()
    assert result["sessionGuid"] == session.session_guid
    assert result["outcome"] == LaunchOutcome.CREATED
    assert (result["account"], result["configurationId"], result["flowNumber"]) == (
        "Sandbox",
        1,
        695,
    )


# The API's session shape (payments/serialisers.py), plus the CLI's own two keys.
JSON_KEYS = {
    "id",
    "sessionId",
    "replayed",
    "sessionGuid",
    "outcome",
    "kind",
    "account",
    "credential",
    "configurationId",
    "flowNumber",
    "flowName",
    "stage",
    "environment",
    "agentId",
    "launchedBy",
    "launchedAt",
    "providerSessionGuid",
    "sessionState",
    "decision",
    "reasonCode",
    "result",
    "statusSource",
    "statusUpdatedAt",
    "latencyMs",
    "error",
}


def test_json_never_holds_the_agent_tokens(emulator):
    """The JSON has exactly the summary keys; the tokens VCC issued appear nowhere in it."""
    out, _ = run(*BASE, "--json")
    result = json.loads(out)
    assert set(result) == JSON_KEYS
    assert not [key for key in result if "token" in key.lower()]
    assert "agentAccessToken" not in out
    [issued] = emulator.vcc.sessions()
    assert issued.guid == result["sessionGuid"]
    tokens_issued = [issued.access_token, issued.refresh_token]
    assert all(tokens_issued), "VCC must have issued agent tokens for this check to mean anything"
    assert not [token for token in tokens_issued if token in out]


def test_plain_output_is_one_line_saying_what_ran_where(emulator):
    out, _ = run(*BASE, "--reference", "ORDER-9")
    assert out.count("\n") == 1
    assert "Sandbox id 1 → flow 695" in out
    assert PaymentSession.objects.get().merchant_reference == "ORDER-9"


def test_same_record_as_the_view_with_the_users_agent_id(emulator):
    run(*BASE, "--skip-call-transfer")
    session = PaymentSession.objects.get()
    assert session.launched_by.username == "agent"
    assert session.agent_id == "agent1234"
    assert session.credential_label == "A"


def test_agent_id_option_is_sent(emulator):
    run(*BASE, "--agent-id", "agent-cli")
    assert PaymentSession.objects.get().agent_id == "agent-cli"


def test_digital_session_with_a_phone(emulator):
    run(*BASE, "--digital", "--phone", "+44 7700 900123", "--amount", "3", "--currency", "EUR")
    session = PaymentSession.objects.get()
    assert session.kind == "digital"
    assert (session.amount, session.currency) == ("3.00", "EUR")


def test_without_as_it_says_who_must_launch(emulator):
    message = refused("--account", "Sandbox", "--configuration-id", "1")
    assert "--as USERNAME" in message
    assert not PaymentSession.objects.exists()


def test_unknown_user_is_refused(emulator):
    assert "no active registry user" in refused(*BASE[:4], "--as", "ghost").lower()


def test_unknown_configuration_names_account_and_id(emulator):
    message = refused("--account", "Sandbox", "--configuration-id", "8", "--as", "agent")
    assert "'Sandbox' has no configuration id 8" in message


def test_unknown_credential_label_is_refused(emulator):
    assert "no credentials labelled 'Z'" in refused(*BASE, "--credential", "Z")


def test_agent_cannot_launch_production_and_is_audited(emulator):
    message = refused("--account", "Production", "--configuration-id", "1", "--as", "agent")
    assert "production" in message
    assert AuditEvent.objects.filter(action="session.launch", outcome="denied").exists()
    assert emulator.stats.session_creates == 0


def test_production_launcher_launches_production(emulator):
    out, _ = run("--account", "Production", "--configuration-id", "1", "--as", "launcher", "--json")
    assert json.loads(out)["stage"] == "production"


def test_sandbox_credential_cannot_start_a_production_flow(emulator):
    message = refused(
        "--account", "Contact Centre", "--configuration-id", "4", "--as", "launcher",
        "--credential", "S",
    )  # fmt: skip
    assert "no credentials labelled 'S'" in message
    message = refused(
        "--account", "Production", "--configuration-id", "1", "--as", "launcher",
        "--credential", "A",
    )  # fmt: skip
    assert "no credentials labelled 'A'" in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--amount", "1.234", "--currency", "GBP"], "2 decimal places"),
        (["--amount", "5", "--currency", "XXX"], "ISO 4217"),
        (["--amount", "5"], "no Currency"),
        (["--payment-data", "{oops"], "not valid JSON"),
        (["--payment-data", "[1]"], "JSON object"),
        (["--payment-data", '{"Amount": 5}'], "must be text"),
        (["--phone", "+447700900123"], "--digital"),
        (["--digital"], "CustomerPhoneNumber"),
        (["--digital", "--phone", "0770"], "E.164"),
        (["--configuration-id", "one"], "invalid int value"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_get_one_line_and_nothing_is_sent(emulator, args, expected):
    assert expected in refused(*BASE, *args)
    assert not PaymentSession.objects.exists()
    assert emulator.stats.session_creates == 0


def test_vcc_failure_exits_1_with_the_recorded_session(emulator):
    emulator.faults.inject("create", status=503, times=1)
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("launch_session", *BASE, "--json", stdout=out)
    session = PaymentSession.objects.get()
    assert info.value.returncode == 1
    assert f"session #{session.pk}" in str(info.value)
    result = json.loads(out.getvalue())
    assert result["sessionGuid"] is None
    assert result["outcome"] == LaunchOutcome.UNKNOWN
    assert result["error"]


def test_from_a_shell_a_failure_is_one_line_never_a_traceback():
    env = {**os.environ, "DATABASE_URL": "sqlite:///:memory:"}
    completed = subprocess.run(
        [sys.executable, "manage.py", "launch_session", "--account", "Sandbox"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    errors = [line for line in completed.stderr.splitlines() if "CommandError" in line]
    assert "Traceback" not in completed.stderr
    assert len(errors) == 1
    assert "--configuration-id" in errors[0]


OPTIONS = [
    "--account",
    "--configuration-id",
    "--credential",
    "--agent-id",
    "--amount",
    "--currency",
    "--reference",
    "--payment-data",
    "--phone",
    "--as",
]
FLAGS = ["--skip-call-transfer", "--digital", "--json"]
VALUES = st.one_of(
    st.text(max_size=40).filter(lambda text: "\x00" not in text),
    st.sampled_from(["Sandbox", "Production", "1", "4", "agent", "launcher", "GBP", "12.40"]),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pairs=st.lists(st.tuples(st.sampled_from(OPTIONS), VALUES), max_size=6),
    flags=st.lists(st.sampled_from(FLAGS), max_size=3),
    start_valid=st.booleans(),
)
def test_any_arguments_succeed_or_fail_with_one_line(emulator, pairs, flags, start_valid):
    args = list(BASE) if start_valid else []
    for option, value in pairs:
        args += [option, value]
    args += flags
    before = PaymentSession.objects.count()
    try:
        run(*args)
    except CommandError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
        assert exc.returncode in (1, 2)
        if exc.returncode == 2:
            assert PaymentSession.objects.count() == before
    for session in PaymentSession.objects.all()[: PaymentSession.objects.count() - before]:
        assert session.session_guid or session.error
