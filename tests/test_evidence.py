"""The evidence a promotion's approver sees for the source flow."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from payments.models import AccountConfiguration, LaunchOutcome, LinkProbe, PaymentFlow
from payments.selectors.probes import flow_evidence
from tests.test_probes import emulator

__all__ = ["emulator"]

pytestmark = pytest.mark.django_db


def test_evidence_warns_when_nothing_proves_the_flow(demo):
    evidence = flow_evidence(flow=PaymentFlow.objects.get(number=699))

    assert not evidence.is_recent
    html = render_to_string("payments/promotions/_evidence.html", {"evidence": evidence})
    assert "No successful staging session or probe of this flow in the last 30 days" in html


def test_evidence_a_recent_probe_is_enough(demo, emulator):
    from payments.services.probes import link_probe

    link_probe(link=AccountConfiguration.objects.find("Sandbox", 3), actor=None)
    evidence = flow_evidence(flow=PaymentFlow.objects.get(number=699))

    assert evidence.is_recent and evidence.last_probe.ok
    html = render_to_string("payments/promotions/_evidence.html", {"evidence": evidence})
    assert "No successful" not in html and "proved" in html


def test_evidence_an_old_probe_and_a_later_refusal_warn(demo):
    flow = PaymentFlow.objects.get(number=699)
    long_ago = timezone.now() - timedelta(days=31)
    LinkProbe.objects.create(
        link=AccountConfiguration.objects.find("Sandbox", 3),
        probed_at=long_ago,
        last_ok_at=long_ago,
        ok=True,
        message="ok",
    )
    LinkProbe.objects.create(
        link=AccountConfiguration.objects.find("Contact Centre", 3),
        probed_at=timezone.now(),
        ok=False,
        message="refused",
    )

    evidence = flow_evidence(flow=flow)

    assert not evidence.is_recent
    assert evidence.last_probe.message == "refused"
    assert evidence.last_ok_probe.link.account.name == "Sandbox"


def test_evidence_a_recent_successful_session_counts(demo, people):
    from payments.models import PaymentSession

    link = AccountConfiguration.objects.find("Sandbox", 3)
    PaymentSession.objects.create(
        launched_by=people["agent"],
        kind="agent_assist",
        account=link.account,
        account_name="Sandbox",
        credential_label="A",
        link=link,
        configuration_id=3,
        flow=link.flow,
        flow_number=699,
        flow_name=link.flow.name,
        stage="staging",
        environment_name="PCI Pal staging",
        outcome=LaunchOutcome.CREATED,
        session_guid="guid-1",
    )

    evidence = flow_evidence(flow=link.flow)

    assert evidence.is_recent and evidence.last_session.session_guid == "guid-1"


def test_promotion_page_shows_the_evidence_while_pending(client, people, new_flow):
    """The approver sees the source flow's evidence on the promotion page, and a warning."""
    from payments.models import VccAccount
    from payments.services import promotion_request

    promotion = promotion_request(
        source_flow=new_flow,
        target_account=VccAccount.objects.get(name="Production"),
        production_flow_number=425,
        configuration_id=7,
        reason="Tested on staging",
        actor=people["registry"],
    )
    client.force_login(people["approver"])
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    assert f"Evidence for flow {new_flow.number}" in page
    assert "No successful staging session or probe of this flow" in page
