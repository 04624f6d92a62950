"""Staging against production, flow by flow and target account by account."""

from dataclasses import dataclass, field
from itertools import groupby
from urllib.parse import urlencode

from payments.models import (
    AccountConfiguration,
    AccountKind,
    ChangeKind,
    PaymentFlow,
    Promotion,
    PromotionChange,
    Stage,
    VccAccount,
)
from payments.models.promotions import OPEN_PROMOTION_STATES

PROMOTED = "promoted"
NOT_PROMOTED = "not yet promoted"
LINK_MISSING = "production link missing"
FLOW_INACTIVE = "production flow inactive"
DRIFT = "drift"

STATUS_CLASSES = {
    PROMOTED: "ok",
    NOT_PROMOTED: "pending",
    LINK_MISSING: "bad",
    FLOW_INACTIVE: "bad",
    DRIFT: "bad",
}


@dataclass
class Finding:
    status: str
    detail: str = ""

    @property
    def css_class(self) -> str:
        return STATUS_CLASSES[self.status]


@dataclass
class ComparisonRow:
    staging_flow: PaymentFlow
    staging_links: list[AccountConfiguration]
    account: VccAccount
    production_flows: list[PaymentFlow]
    production_links: list[AccountConfiguration]
    open_promotion: Promotion | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def can_be_requested(self) -> bool:
        return self.open_promotion is None and self.findings[0].status == NOT_PROMOTED

    @property
    def missing_link_flow(self) -> PaymentFlow | None:
        """The production flow to link on this account (link missing, nothing open), or None."""
        if self.open_promotion is not None:
            return None
        if not any(finding.status == LINK_MISSING for finding in self.findings):
            return None
        return next((flow for flow in self.production_flows if flow.is_active), None)

    @property
    def link_request_query(self) -> str:
        """The request form's query string that prefills exactly the missing link."""
        flow = self.missing_link_flow
        if flow is None:
            return ""
        return urlencode(
            {
                "source_flow": self.staging_flow.pk,
                "target_account": self.account.pk,
                "production_flow_number": flow.number,
            }
        )


@dataclass
class ComparisonGroup:
    name: str
    rows: list[ComparisonRow]


def _findings(staging, account, promoted_flows, account_links) -> list[Finding]:
    findings = []
    if not promoted_flows:
        findings.append(Finding(NOT_PROMOTED))
    linked = [link for link in account_links if link.flow.promoted_from_id == staging.pk]
    for flow in promoted_flows:
        if not flow.is_active:
            findings.append(Finding(FLOW_INACTIVE, f"flow {flow.number} is switched off"))
    active_flows = [flow for flow in promoted_flows if flow.is_active]
    if active_flows and not any(link.is_active for link in linked):
        numbers = ", ".join(str(flow.number) for flow in active_flows)
        findings.append(
            Finding(LINK_MISSING, f"{account.name} has no active id for flow {numbers}")
        )
    for link in account_links:
        if link.is_active and link.flow.name == staging.name and link not in linked:
            origin = link.flow.promoted_from
            came_from = f"from {origin.number}" if origin else "from no staging flow"
            findings.append(
                Finding(
                    DRIFT,
                    f"id {link.configuration_id} → flow {link.flow.number} has the same name "
                    f"but was promoted {came_from}",
                )
            )
    if not findings:
        findings.append(Finding(PROMOTED))
    return findings


def environment_comparison() -> list[ComparisonGroup]:
    """Return, for each flow name, each staging flow against each production-capable account."""
    staging_flows = list(
        PaymentFlow.objects.for_stage(Stage.STAGING)
        .select_related("environment")
        .order_by("name", "number")
    )
    production_flows = list(
        PaymentFlow.objects.for_stage(Stage.PRODUCTION).select_related("environment")
    )
    accounts = list(
        VccAccount.objects.filter(kind__in=[AccountKind.PRODUCTION, AccountKind.COMBINED])
    )
    links = list(
        AccountConfiguration.objects.select_related(
            "account", "flow__environment", "flow__promoted_from"
        ).order_by("account__name", "configuration_id")
    )
    # A change set links its flow on several accounts: each of them has that promotion open.
    open_links = PromotionChange.objects.filter(
        kind=ChangeKind.LINK, promotion__state__in=OPEN_PROMOTION_STATES
    ).select_related("promotion")
    open_promotions = {
        (change.promotion.source_flow_id, change.account_id): change.promotion
        for change in open_links.order_by("promotion_id", "position")
    }
    groups = []
    for name, flows in groupby(staging_flows, key=lambda flow: flow.name):
        rows = []
        for staging in flows:
            promoted = [flow for flow in production_flows if flow.promoted_from_id == staging.pk]
            staging_links = [link for link in links if link.flow_id == staging.pk]
            for account in accounts:
                account_links = [
                    link
                    for link in links
                    if link.account_id == account.pk and link.flow.stage == Stage.PRODUCTION
                ]
                rows.append(
                    ComparisonRow(
                        staging_flow=staging,
                        staging_links=staging_links,
                        account=account,
                        production_flows=promoted,
                        production_links=[
                            link
                            for link in account_links
                            if link.flow.promoted_from_id == staging.pk
                            or link.flow.name == staging.name
                        ],
                        open_promotion=open_promotions.get((staging.pk, account.pk)),
                        findings=_findings(staging, account, promoted, account_links),
                    )
                )
        groups.append(ComparisonGroup(name=name, rows=rows))
    return groups
