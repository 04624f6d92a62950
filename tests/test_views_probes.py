"""The Link health page, its probe buttons, and the topology's link colours."""

import pytest
from django.utils import timezone

from payments.models import AccountConfiguration, AuditEvent, LinkProbe
from payments.topology import topology_diagrams
from payments.topology.shapes import HEALTH_COLOURS
from tests.test_probes import emulator

__all__ = ["emulator"]

pytestmark = pytest.mark.django_db


def record(account, configuration_id, *, ok, message="VCC said so", advice=""):
    link = AccountConfiguration.objects.find(account, configuration_id)
    return LinkProbe.objects.create(
        link=link, probed_at=timezone.now(), ok=ok, message=message, advice=advice
    )


def test_link_health_page_shows_the_matrix_and_the_refused_link(client, people):
    record("Sandbox", 1, ok=True)
    record("Contact Centre", 3, ok=False, message="Not provisioned.", advice="Ask Vonage.")
    client.force_login(people["auditor"])

    page = client.get("/links/health/").content.decode()

    assert "1 link VCC refuses" in page
    assert "Not provisioned." in page and "Ask Vonage." in page
    assert 'class="health-cell health-failed" data-account="Contact Centre" data-id="3"' in page
    assert 'class="health-cell health-ok" data-account="Sandbox" data-id="1"' in page
    assert 'class="health-cell health-never" data-account="Production" data-id="1"' in page
    assert "Probe every staging link" not in page  # auditors look, they do not probe


def test_link_health_page_is_refused_without_the_view_permission(client, people):
    client.force_login(people["agent"])

    assert client.get("/links/health/").status_code == 403


def test_link_health_nav_entry_for_registry_admins(client, people):
    client.force_login(people["registry"])

    page = client.get("/").content.decode()

    assert 'href="/links/health/"' in page


def test_link_health_probe_staging_links_from_the_page(client, people, emulator):
    client.force_login(people["registry"])

    response = client.post("/links/health/probe/", follow=True)

    page = response.content.decode()
    assert "Configuration id 3 is not provisioned on VCC account Contact Centre" in page
    failing = LinkProbe.objects.filter(ok=False)
    assert [str(p.link) for p in failing] == [
        str(AccountConfiguration.objects.find("Contact Centre", 3))
    ]
    # One message for the run, naming the refused link, so the matrix stays in view.
    notices = [str(message) for message in response.context["messages"]]
    assert len(notices) == 1
    assert "1 refused by VCC" in notices[0] and "Contact Centre" in notices[0]
    # A probe just made reads "now", not "0 minutes ago".
    assert "0 minutes ago" not in page and "probed now" in page


def test_link_health_production_probe_needs_the_typed_account_name(client, people, emulator):
    launcher = people["launcher"]
    launcher.groups.add(*people["registry"].groups.all())
    client.force_login(launcher)
    production = AccountConfiguration.objects.find("Production", 1)

    client.post("/links/health/probe/", {"link": production.pk, "confirm_account_name": "prod"})
    assert not LinkProbe.objects.filter(link=production).exists()

    client.post(
        "/links/health/probe/", {"link": production.pk, "confirm_account_name": "Production"}
    )
    assert LinkProbe.objects.get(link=production).ok
    outcomes = list(
        AuditEvent.objects.filter(action="link.probed_production")
        .order_by("pk")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["denied", "success"]


def test_topology_colours_each_link_by_its_last_probe(demo):
    record("Contact Centre", 3, ok=False)
    record("Sandbox", 1, ok=True)

    arrows = [arrow for diagram in topology_diagrams() for arrow in diagram.arrows]

    refused = [a for a in arrows if a.label == "id 3 · refused"]
    assert len(refused) == 1 and refused[0].colour == HEALTH_COLOURS["failed"]
    assert refused[0].marker == "failed"
    assert any(a.label == "id 1" and a.colour == HEALTH_COLOURS["ok"] for a in arrows)
