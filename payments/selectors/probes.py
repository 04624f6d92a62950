"""Reads of link probes: the Link health matrix, and the evidence an approver sees."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    LaunchOutcome,
    LinkProbe,
    PaymentFlow,
    PaymentSession,
    Stage,
    VccAccount,
)
from payments.models.probes import HEALTH_FAILED, HEALTH_NEVER, HEALTH_OK, HEALTH_STALE, link_health

HEALTH_LABELS = {
    HEALTH_OK: "proved",
    HEALTH_FAILED: "refused",
    HEALTH_STALE: "proved, but long ago",
    HEALTH_NEVER: "never probed",
}
EVIDENCE_WINDOW = timedelta(days=30)


@dataclass
class Cell:
    link: AccountConfiguration
    health: str

    @property
    def probe(self) -> LinkProbe | None:
        return getattr(self.link, "probe", None)

    @property
    def label(self) -> str:
        return HEALTH_LABELS[self.health]


@dataclass
class MatrixRow:
    account: VccAccount
    cells: list[Cell | None]


@dataclass
class HealthMatrix:
    configuration_ids: list[int]
    rows: list[MatrixRow]
    links: list[Cell] = field(default_factory=list)

    @property
    def failing(self) -> list[Cell]:
        return [cell for cell in self.links if cell.health == HEALTH_FAILED]

    def counts(self) -> dict[str, int]:
        return {health: sum(c.health == health for c in self.links) for health in HEALTH_LABELS}


def link_health_matrix(*, now=None) -> HealthMatrix:
    """Active accounts × configuration ids → the active link there and its last probe's health."""
    now = now or timezone.now()
    links = list(
        AccountConfiguration.objects.filter(is_active=True, account__is_active=True)
        .with_related()
        .select_related("probe")
        .order_by("account__name", "configuration_id")
    )
    ids = sorted({link.configuration_id for link in links})
    cells = {
        (link.account_id, link.configuration_id): Cell(link, link_health(link, now))
        for link in links
    }
    accounts = VccAccount.objects.active().order_by("name")
    rows = [
        MatrixRow(account, [cells.get((account.pk, number)) for number in ids])
        for account in accounts
    ]
    return HealthMatrix(configuration_ids=ids, rows=rows, links=list(cells.values()))


def link_health_by_link(*, now=None) -> dict[int, str]:
    """The health of every link by its pk (for the topology diagram)."""
    now = now or timezone.now()
    links = AccountConfiguration.objects.select_related("probe")
    return {link.pk: link_health(link, now) for link in links}


@dataclass
class FlowEvidence:
    """What proves a staging flow works before it is promoted."""

    flow: PaymentFlow
    last_session: PaymentSession | None
    last_probe: LinkProbe | None
    last_ok_probe: LinkProbe | None
    window: timedelta = EVIDENCE_WINDOW
    now: object = None

    @property
    def is_recent(self) -> bool:
        """A successful session or probe within the window."""
        since = self.now - self.window
        session_at = self.last_session.launched_at if self.last_session else None
        probe_at = self.last_ok_probe.last_ok_at if self.last_ok_probe else None
        return any(when is not None and when >= since for when in (session_at, probe_at))

    @property
    def window_days(self) -> int:
        return self.window.days


def flow_evidence(*, flow: PaymentFlow, now=None) -> FlowEvidence:
    """The source flow's last successful staging session and its links' last probes."""
    now = now or timezone.now()
    session = (
        PaymentSession.objects.filter(flow=flow, stage=Stage.STAGING, outcome=LaunchOutcome.CREATED)
        .order_by("-launched_at")
        .first()
    )
    probes = LinkProbe.objects.filter(link__flow=flow).select_related("link__account")
    last_probe = probes.order_by("-probed_at").first()
    last_ok = probes.filter(last_ok_at__isnull=False).order_by("-last_ok_at").first()
    return FlowEvidence(
        flow=flow, last_session=session, last_probe=last_probe, last_ok_probe=last_ok, now=now
    )
