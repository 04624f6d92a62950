"""Link probes against the VCC emulator: the world lacks Contact Centre id 3, as the demo's does."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    AuditEvent,
    AuditOutcome,
    LinkProbe,
    Notification,
    Stage,
)
from payments.services.demo import NOT_PROVISIONED_AT_VCC
from payments.services.probes import link_probe, links_probe
from tests.conftest import point_accounts_at, provision_from_registry
from tests.worker_support import keep_test_connection

__all__ = ["keep_test_connection"]


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    """The demo's VCC: every registry link provisioned but Contact Centre id 3."""
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    settings.VCC_PROBE_AGENT_ID = "probe-agent-1"
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator, leave_out=NOT_PROVISIONED_AT_VCC)
    return vcc_emulator


def run(*args) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("probe_links", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def link(account: str, configuration_id: int) -> AccountConfiguration:
    return AccountConfiguration.objects.find(account, configuration_id)


def test_probe_links_finds_exactly_the_link_vcc_lacks(emulator):
    results = links_probe(actor=None, origin="test")

    failed = [(r.as_json()["account"], r.as_json()["configurationId"]) for r in results if not r.ok]
    assert failed == [("Contact Centre", 3)]
    staging = AccountConfiguration.objects.launchable().for_stage(Stage.STAGING).count()
    assert len(results) == staging == LinkProbe.objects.count()


def test_probe_links_refused_link_shows_vcc_words_and_what_to_do(emulator):
    result = link_probe(link=link("Contact Centre", 3), actor=None)

    probe = LinkProbe.objects.get(link=link("Contact Centre", 3))
    assert not result.ok and not probe.ok
    assert "Configuration id 3 is not provisioned on VCC account Contact Centre" in probe.message
    assert "Ask Vonage to provision configuration id 3 on VCC account Contact Centre" in (
        probe.advice
    )
    assert probe.session_guid == ""


def test_probe_links_ok_link_records_session_guid_agent_and_time(emulator):
    result = link_probe(link=link("Sandbox", 1), actor=None)

    probe = LinkProbe.objects.get(link=link("Sandbox", 1))
    assert result.ok and probe.ok
    assert probe.session_guid and probe.session_guid in probe.message
    assert probe.agent_id == "probe-agent-1"
    assert probe.credential_label == "A"
    assert probe.last_ok_at == probe.probed_at
    request = emulator.vcc.session(probe.session_guid)
    assert request.skip_call_transfer is True
    assert request.agent_id == "probe-agent-1"


def test_probe_links_never_stores_the_agent_tokens(emulator):
    result = link_probe(link=link("Sandbox", 1), actor=None)

    issued = emulator.vcc.session(result.probe.session_guid)
    tokens = [issued.access_token, issued.refresh_token]
    assert all(tokens)
    stored = json.dumps(list(LinkProbe.objects.values()), default=str)
    stored += json.dumps(list(AuditEvent.objects.values()), default=str)
    assert not any(token in stored for token in tokens)


def test_probe_links_production_refused_without_include_production(emulator):
    production = link("Production", 1)

    with pytest.raises(PermissionDenied, match="include-production"):
        link_probe(link=production, actor=None)

    assert not LinkProbe.objects.filter(link=production).exists()
    denied = AuditEvent.objects.get(action="link.probed_production")
    assert denied.outcome == AuditOutcome.DENIED


def test_probe_links_production_probe_is_audited(emulator):
    result = link_probe(link=link("Production", 1), actor=None, include_production=True)

    assert result.ok
    event = AuditEvent.objects.get(action="link.probed_production")
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.after["sessionGuid"] == result.probe.session_guid


def test_probe_links_person_needs_permission_and_typed_account_name(emulator, people):
    production = link("Production", 1)
    registry, launcher = people["registry"], people["launcher"]

    with pytest.raises(PermissionDenied, match="production probe permission"):
        link_probe(link=production, actor=registry, include_production=True)
    # Production launchers may probe production, but not links at all without probe_links.
    with pytest.raises(PermissionDenied, match="may not probe links"):
        link_probe(link=production, actor=launcher, include_production=True)
    launcher.groups.add(*registry.groups.all())
    launcher = type(launcher).objects.get(pk=launcher.pk)
    with pytest.raises(PermissionDenied, match="type the account name"):
        link_probe(link=production, actor=launcher, include_production=True)

    result = link_probe(
        link=production, actor=launcher, include_production=True, confirm_account_name="Production"
    )
    assert result.ok
    assert AuditEvent.objects.filter(action="link.probed_production").count() == 4


def test_probe_links_newly_failing_link_is_audited_and_notified_once(emulator):
    broken = link("Contact Centre", 3)

    first = link_probe(link=broken, actor=None)
    second = link_probe(link=broken, actor=None)

    assert first.newly_failing and not second.newly_failing
    events = AuditEvent.objects.filter(action="link.probe_failed")
    assert events.count() == 1
    notification = Notification.objects.get(action="link.probe_failed")
    assert "Contact Centre" in notification.subject
    assert notification.deliveries.filter(recipient__username="registry").exists()


def test_probe_links_failing_again_after_a_success_is_newly_failing(emulator):
    sandbox = link("Sandbox", 2)
    assert link_probe(link=sandbox, actor=None).ok
    provision_from_registry(emulator, leave_out=[("Sandbox", 2)])

    again = link_probe(link=sandbox, actor=None)

    assert again.newly_failing
    probe = LinkProbe.objects.get(link=sandbox)
    assert probe.last_ok_at is not None and probe.last_ok_at < probe.probed_at


def test_probe_links_command_json_shape_and_exit_code(emulator):
    out, code = run("--json")

    answer = json.loads(out)
    assert code == 1
    assert set(answer) == {"links"}
    keys = {"account", "configurationId", "flow", "stage", "ok", "message"}
    assert all(set(row) == keys for row in answer["links"])
    row = next(r for r in answer["links"] if (r["account"], r["configurationId"]) == ("Sandbox", 1))
    assert row["flow"] == 695 and row["stage"] == "staging" and row["ok"] is True
    assert [(r["account"], r["configurationId"]) for r in answer["links"] if not r["ok"]] == [
        ("Contact Centre", 3)
    ]


def test_probe_links_command_exits_zero_when_every_link_is_proved(emulator):
    out, code = run("--account", "Sandbox", "--json")

    assert code == 0
    links = json.loads(out)["links"]
    assert [r["configurationId"] for r in links] == [1, 2, 3] and all(r["ok"] for r in links)


def test_probe_links_command_refuses_production_without_the_flag(emulator):
    out, code = run("--stage", "production")

    assert code == 2
    assert out == ""
    assert not LinkProbe.objects.exists()


def test_probe_links_command_includes_production_when_asked(emulator):
    out, code = run("--stage", "production", "--include-production", "--json")

    links = json.loads(out)["links"]
    assert code == 0
    assert {r["stage"] for r in links} == {"production"}
    assert len(links) == AuditEvent.objects.filter(action="link.probed_production").count() == 4


def test_probe_links_command_text_says_what_to_do(emulator):
    out, code = run("--account", "Contact Centre")

    assert code == 1
    assert "FAILED" in out and "What to do: Ask Vonage to provision configuration id 3" in out


def test_probe_links_no_credential_fails_without_asking_vcc(emulator):
    sandbox = link("Sandbox", 1)
    sandbox.account.credentials.update(is_enabled=False)

    result = link_probe(link=sandbox, actor=None)

    assert not result.ok
    assert "No enabled credentials on Sandbox" in result.probe.message
    assert emulator.vcc.sessions() == []


def test_probe_links_run_on_the_worker_schedule_and_notify(emulator, settings):
    from payments.models import PeriodicJob

    for name in ("credentials_check", "deliveries_send", "schedules_apply"):
        PeriodicJob.objects.create(name=name, next_run_at=timezone.now() + timedelta(days=1))

    call_command("registry_worker", "--once")

    probed = LinkProbe.objects.select_related("link__flow__environment")
    assert probed.count() == AccountConfiguration.objects.launchable().for_stage("staging").count()
    assert {probe.link.flow.environment.stage for probe in probed} == {"staging"}
    assert Notification.objects.filter(action="link.probe_failed").count() == 1
    job = PeriodicJob.objects.get(name="links_probe_staging")
    assert job.next_run_at - job.last_enqueued_at == timedelta(seconds=settings.LINK_PROBE_INTERVAL)


def test_a_persons_staging_probe_is_audited_the_workers_only_when_newly_failing(emulator, people):
    """A probe someone asks for is in the trail; the worker's routine runs only on a failure."""
    registry = people["registry"]
    sandbox = link("Sandbox", 1)
    link_probe(link=sandbox, actor=registry, origin="test")
    [event] = AuditEvent.objects.filter(action="link.probed", object_id=str(sandbox.pk))
    assert (event.actor, event.outcome) == (registry, "success")
    link_probe(link=sandbox, actor=None, origin="registry_worker probes")
    assert AuditEvent.objects.filter(action="link.probed").count() == 1
