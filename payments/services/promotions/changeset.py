"""A promotion's change set: plan it from a request, and say what stops it from applying."""

from collections import Counter
from collections.abc import Iterable

from payments.models import (
    AccountConfiguration,
    AccountKind,
    ChangeKind,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionChange,
    Stage,
    VccAccount,
)
from payments.models.promotions import OPEN_PROMOTION_STATES
from payments.selectors.promotions import promotion_changes

TARGET_KINDS = {AccountKind.PRODUCTION, AccountKind.COMBINED}
KEPT_CHANGES = "_kept_changes"


def plan_changes(
    *,
    source_flow: PaymentFlow,
    target_account: VccAccount,
    target_environment: PciEnvironment,
    production_flow_number: int,
    configuration_id: int,
    links: Iterable[tuple[VccAccount, int]] = (),
    deactivate: Iterable[AccountConfiguration] = (),
) -> list[PromotionChange]:
    """The unsaved rows of a request: a new flow (unless it exists from this lineage), links."""
    existing = PaymentFlow.objects.filter(
        environment=target_environment, number=production_flow_number
    ).first()
    # A flow already promoted from this staging flow is linked, never created a second time;
    # one from elsewhere is planned as a creation, which the checks then refuse, naming it.
    same_lineage = existing is not None and existing.promoted_from_id == source_flow.pk
    reuse = existing if same_lineage else None
    changes = []
    if reuse is None:
        changes.append(
            PromotionChange(kind=ChangeKind.CREATE_FLOW, flow_number=production_flow_number)
        )
    for account, link_id in [(target_account, configuration_id), *links]:
        changes.append(
            PromotionChange(
                kind=ChangeKind.LINK, account=account, configuration_id=link_id, flow=reuse
            )
        )
    for link in deactivate:
        changes.append(PromotionChange(kind=ChangeKind.DEACTIVATE, link=link))
    for position, change in enumerate(changes):
        change.position = position
    return changes


def stored_changes(promotion: Promotion) -> list[PromotionChange]:
    """The promotion's change set as saved, in order, with what its pages show.

    Read once per step: a promotion locked by a step keeps the set it read under the lock
    (keep_stored_changes) until the step replaces it (forget_stored_changes).
    """
    kept = getattr(promotion, KEPT_CHANGES, None)
    return list(kept) if kept is not None else promotion_changes(promotion)


def keep_stored_changes(promotion: Promotion) -> None:
    setattr(promotion, KEPT_CHANGES, promotion_changes(promotion))


def forget_stored_changes(promotion: Promotion) -> None:
    setattr(promotion, KEPT_CHANGES, None)


def extra_links(changes: list[PromotionChange]) -> list[tuple[VccAccount, int]]:
    """The links after the first (the request's own target account and id)."""
    links = [change for change in changes if change.kind == ChangeKind.LINK]
    return [(change.account, change.configuration_id) for change in links[1:]]


def deactivations(changes: list[PromotionChange]) -> list[AccountConfiguration]:
    return [change.link for change in changes if change.kind == ChangeKind.DEACTIVATE]


def touched_accounts(changes: list[PromotionChange]) -> list[VccAccount]:
    """The accounts a set touches (read with the set), in ascending primary key."""
    accounts = {c.account_id: c.account for c in changes if c.account_id}
    accounts.update({c.link.account_id: c.link.account for c in changes if c.link_id})
    return [accounts[pk] for pk in sorted(accounts)]


def touched(changes: list[PromotionChange]) -> tuple[list[int], list[int], list[int]]:
    """The accounts, flows and links a set touches, by primary key in ascending order."""
    accounts = [account.pk for account in touched_accounts(changes)]
    flows = {c.flow_id for c in changes if c.flow_id}
    links = {c.link_id for c in changes if c.link_id}
    return accounts, sorted(flows), sorted(links)


def change_problems(
    *,
    source_flow: PaymentFlow,
    target_environment: PciEnvironment,
    changes: list[PromotionChange],
    promotion: Promotion | None = None,
) -> dict[str, list[str]]:
    """What stops this change set, by the request's field (links after the first: "links")."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    own_links = {change.link_id for change in changes if change.kind == ChangeKind.LINK}
    link_changes = [change for change in changes if change.kind == ChangeKind.LINK]
    for change in changes:
        if change.kind == ChangeKind.CREATE_FLOW:
            _check_new_flow(change, source_flow, target_environment, promotion, add)
    accounts = Counter(change.account_id for change in link_changes)
    for index, change in enumerate(link_changes):
        fields = (
            ("target_account", "configuration_id", "source_flow") if index == 0 else ("links",) * 3
        )
        if accounts[change.account_id] > 1 and index > 0:
            add("links", f"{change.account.name} is linked twice in this request: keep one id.")
            accounts[change.account_id] = 1  # say it once
            continue
        _check_link(change, source_flow, promotion, own_links, fields, add)
    seen_links = set()
    for change in changes:
        if change.kind != ChangeKind.DEACTIVATE:
            continue
        link = change.link
        if link.pk in seen_links:
            add("deactivate", f"{link} is switched off twice in this request.")
        seen_links.add(link.pk)
        if link.flow.environment.stage != Stage.PRODUCTION:
            add("deactivate", f"{link} is not a production link: change it directly.")
        elif not link.is_active:
            add("deactivate", f"{link} is already switched off.")
    return problems


def _check_new_flow(change, source_flow, environment, promotion, add) -> None:
    taken = (
        PaymentFlow.objects.filter(environment=environment, number=change.flow_number)
        .select_related("promoted_from")
        .first()
    )
    if taken is None or (promotion is not None and taken.pk == change.flow_id):
        return
    origin = taken.promoted_from
    if origin is not None and origin.pk == source_flow.pk:
        add(
            "production_flow_number",
            f"Flow {change.flow_number} already exists on {environment} (“{taken.name}”), "
            f"promoted from flow {source_flow.number} since this request was made: edit the "
            f"request (it then links flow {change.flow_number} instead of creating it).",
        )
    elif origin is not None:
        add(
            "production_flow_number",
            f"Flow {change.flow_number} already exists on {environment} (“{taken.name}”) and "
            f"was promoted from staging flow {origin.number} “{origin.name}”, not from "
            f"{source_flow.number}: use the number the provider gave the new flow.",
        )
    else:
        add(
            "production_flow_number",
            f"Flow {change.flow_number} already exists on {environment} (“{taken.name}”) and "
            "was not promoted from a staging flow: use the number the provider gave the new "
            "flow.",
        )


def _check_link(change, source_flow, promotion, own_links, fields, add) -> None:
    account_field, id_field, source_field = fields
    account = change.account
    if account.kind not in TARGET_KINDS:
        add(
            account_field,
            f"{account.name} is a {account.kind} account: promote to a production or combined "
            "account.",
        )
    elif not account.is_active:
        add(account_field, f"{account.name} is inactive.")
    elif not _has_production_credential(account):
        add(
            account_field,
            f"{account.name} has no enabled credential allowed for production (with a stored "
            "secret). Add or enable one in the admin: secrets are never copied from another "
            "account.",
        )
    taken_link = (
        AccountConfiguration.objects.filter(
            account=account, configuration_id=change.configuration_id
        )
        .exclude(pk__in=[pk for pk in own_links if pk])
        .select_related("flow")
        .first()
    )
    if taken_link is not None:
        add(
            id_field,
            f"{account.name} already uses id {change.configuration_id} (→ flow "
            f"{taken_link.flow.number}): use the id Vonage provisioned for this flow.",
        )
    promoted = (
        AccountConfiguration.objects.filter(
            account=account, is_active=True, flow__promoted_from=source_flow
        )
        .exclude(pk__in=[pk for pk in own_links if pk])
        .select_related("flow")
        .first()
    )
    if promoted is not None:
        add(
            source_field,
            f"Flow {source_flow.number} is already promoted to {account.name}: "
            f"id {promoted.configuration_id} → flow {promoted.flow.number}.",
        )
    open_change = (
        PromotionChange.objects.filter(
            kind=ChangeKind.LINK,
            account=account,
            promotion__source_flow=source_flow,
            promotion__state__in=OPEN_PROMOTION_STATES,
        )
        .exclude(promotion=promotion.pk if promotion else None)
        .select_related("promotion")
        .first()
    )
    if open_change is not None:
        other = open_change.promotion
        add(
            source_field,
            f"A promotion of flow {source_flow.number} to {account.name} already exists "
            f"(#{other.pk}, {other.get_state_display().lower()}).",
        )


def _has_production_credential(account: VccAccount) -> bool:
    credentials = account.credentials.enabled().for_stage(Stage.PRODUCTION)
    return credentials.exclude(secret_fingerprint="").exists()
