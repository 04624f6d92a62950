"""Reads of promotions shared by the pages, the audit review, the admin, the API and the CLI."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from payments.models import (
    ChangeKind,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionChange,
    Stage,
    VccAccount,
)


class NotFound(LookupError):
    """Nothing has that number or name; str() says what was looked for."""


class Ambiguous(LookupError):
    """Several match; str() says what to add to pick one."""


def promotions_with_related() -> QuerySet:
    """Promotions with everything their pages show fetched in the same query."""
    return Promotion.objects.select_related(
        "source_flow__environment",
        "target_account",
        "target_environment",
        "requested_by",
        "approved_by",
        "rejected_by",
        "applied_by",
        "rolled_back_by",
        "production_flow__environment",
        "production_link",
    )


def promotion_changes(promotion: Promotion) -> list[PromotionChange]:
    """The promotion's change set in the order it applies, with what its pages show."""
    return list(
        promotion.changes.select_related(
            "account", "flow__environment", "link__account", "link__flow__environment"
        ).order_by("position")
    )


def promotion_extra_links(promotion: Promotion) -> list[tuple[VccAccount, int]]:
    """The set's links after the first (which is the request's own account and id)."""
    links = [c for c in promotion_changes(promotion) if c.kind == ChangeKind.LINK]
    return [(change.account, change.configuration_id) for change in links[1:]]


def change_rows(promotion: Promotion) -> list[dict]:
    """Each change of the set as the pages show it: what it does, before and after."""
    source = promotion.source_flow
    node = promotion.target_environment.name
    number = promotion.production_flow_number
    rows = []
    for change in promotion_changes(promotion):
        if change.kind == ChangeKind.CREATE_FLOW:
            before = f"no flow {change.flow_number} on {node}"
            after = f"flow {change.flow_number} “{source.name}”, promoted from {source.number}"
        elif change.kind == ChangeKind.LINK:
            target = change.flow.number if change.flow_id else number
            before = f"no id {change.configuration_id} on {change.account.name}"
            after = f"id {change.configuration_id} → flow {target}"
        else:
            link = change.link
            before = f"id {link.configuration_id} → flow {link.flow.number}, active"
            after = f"id {link.configuration_id} switched off"
        rows.append(
            {
                "change": change,
                "account": change.account or (change.link.account if change.link_id else None),
                "label": change.get_kind_display(),
                "before": before,
                "after": after,
            }
        )
    return rows


# --- What a request names, by the numbers and names people use (the API and the CLI) ---------


def staging_flow_numbered(number: int, environment: str = "") -> PaymentFlow:
    """The staging flow of that number (on that node, when several nodes have it)."""
    flows = PaymentFlow.objects.for_stage(Stage.STAGING).filter(number=number)
    if environment:
        flows = flows.filter(environment__name=environment)
    flows = list(flows.select_related("environment")[:10])
    on = f" on {environment}" if environment else ""
    if not flows:
        raise NotFound(f"There is no staging flow {number}{on}.")
    if len(flows) > 1:
        nodes = ", ".join(sorted(flow.environment.name for flow in flows))
        raise Ambiguous(f"Several staging nodes have flow {number} ({nodes}): name its node.")
    return flows[0]


def account_named(name: str) -> VccAccount:
    account = VccAccount.objects.filter(name=name).first()
    if account is None:
        raise NotFound(f"There is no VCC account named {name!r}.")
    return account


def production_node_named(name: str) -> PciEnvironment | None:
    """The production node of that name; None for no name (the provider's only one)."""
    if not name:
        return None
    environment = PciEnvironment.objects.filter(stage=Stage.PRODUCTION, name=name).first()
    if environment is None:
        raise NotFound(f"There is no production node named {name!r}.")
    return environment


def promotion_numbered(number: int) -> Promotion:
    """The promotion #number, with what promotion_json and the steps read fetched with it."""
    promotion = promotions_with_related().filter(pk=number).first()
    if promotion is None:
        raise NotFound(f"There is no promotion #{number}.")
    return promotion


def may_see_promotions(user) -> bool:
    """Approvers, registry admins and auditors see promotions; the pages, API and CLI ask here."""
    return user.has_perm("payments.view_promotion")


def promotion_for_reader(number: int, user) -> Promotion:
    """The promotion, for someone allowed to see promotions (not audited: a read)."""
    if not may_see_promotions(user):
        raise PermissionDenied(
            f"{user.get_username()} may not see promotions: that needs the Approvers, Registry "
            "admins or Auditors group."
        )
    return promotion_numbered(number)
