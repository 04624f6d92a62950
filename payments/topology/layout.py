"""The seed's topology diagram drawn from live data: boxes and arrows laid out for an SVG.

Staging flows sit in one row, production flows in the row below, each under the staging flow
it was promoted from; accounts sit above (staging), below (production), or beside both rows
(a combined account). The SVG template only draws what this module places.
"""

from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    AccountKind,
    PaymentFlow,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)
from payments.models.probes import HEALTH_FAILED, HEALTH_STALE, link_health
from payments.topology.shapes import (
    ACCOUNT_WIDTH,
    BRAND_COLOUR,
    CHAR_WIDTH,
    COLUMN,
    FLOW_HEIGHT,
    FLOW_WIDTH,
    HEALTH_COLOURS,
    INK_COLOUR,
    LINE,
    MUTED_COLOUR,
    PRODUCTION_COLOUR,
    ROW_GAP,
    SEPARATE,
    STAGING_COLOUR,
    Arrow,
    Box,
    Caption,
    Diagram,
    TextLine,
)


def _short(text: str, limit: int = 27) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flow_box(flow: PaymentFlow, x: float, y: float) -> Box:
    colour = STAGING_COLOUR if flow.stage == Stage.STAGING else PRODUCTION_COLOUR
    lines = [TextLine(f"Flow {flow.number}", bold=True, colour=colour), TextLine(_short(flow.name))]
    if not flow.is_active:
        lines[1] = TextLine(_short(f"{flow.name} · inactive"), colour=MUTED_COLOUR)
        colour = MUTED_COLOUR
    return Box(x, y, FLOW_WIDTH, FLOW_HEIGHT, lines, stroke=colour)


def _ghost_box(promotion: Promotion, x: float, y: float) -> Box:
    lines = [
        TextLine(f"Flow {promotion.production_flow_number}", bold=True, colour=MUTED_COLOUR),
        TextLine(f"promotion #{promotion.pk} {promotion.get_state_display().lower()}"),
    ]
    return Box(x, y, FLOW_WIDTH, FLOW_HEIGHT, lines, stroke=MUTED_COLOUR, dashed=True)


def _account_box(account: VccAccount, x: float, y: float) -> Box:
    lines = [
        TextLine(_short(account.name, 34), bold=True),
        TextLine(f"{account.kind} VCC account", colour=MUTED_COLOUR),
    ]
    for credential in account.credentials.all():
        state = "" if credential.is_enabled else " · disabled"
        allowed = credential.get_allowed_environments_display().lower()
        colour = INK_COLOUR if credential.is_enabled else MUTED_COLOUR
        text = _short(f"credentials {credential.label} · {allowed}{state}", 44)
        lines.append(TextLine(text, colour=colour))
    height = 14 + LINE * len(lines)
    width = max(ACCOUNT_WIDTH, max(CHAR_WIDTH * len(line.text) for line in lines) + 26)
    return Box(x, y, width, height, lines, stroke=BRAND_COLOUR, fill="#f4f2fb")


def _link_label(link: AccountConfiguration, health: str) -> str:
    label = f"id {link.configuration_id}" + ("" if link.is_active else " (inactive)")
    if link.is_active and health in (HEALTH_FAILED, HEALTH_STALE):
        label += " · refused" if health == HEALTH_FAILED else " · stale"
    return label


def _columns(staging_flows, production_flows, ghosts):
    """Pair each staging flow with the production flows (and pending ones) it leads to."""
    columns = []
    placed = set()
    for staging in staging_flows:
        below = [flow for flow in production_flows if flow.promoted_from_id == staging.pk]
        below += [ghost for ghost in ghosts if ghost.source_flow_id == staging.pk]
        placed.update(id(item) for item in below)
        columns.append((staging, below[0] if below else None))
        columns.extend((None, item) for item in below[1:])
    columns.extend((None, item) for item in [*production_flows, *ghosts] if id(item) not in placed)
    return columns


def _load(accounts):
    """Return the accounts' links, the flows to draw by stage, and their pending promotions."""
    account_ids = [account.pk for account in accounts]
    links = list(
        AccountConfiguration.objects.filter(account_id__in=account_ids)
        .select_related("account", "flow__environment", "probe")
        .order_by("configuration_id")
    )
    ghosts = list(
        Promotion.objects.filter(
            target_account_id__in=account_ids,
            state__in=[PromotionState.REQUESTED, PromotionState.APPROVED],
        ).order_by("pk")
    )
    flow_ids = {link.flow_id for link in links}
    flows = PaymentFlow.objects.select_related("environment")
    linked = list(flows.filter(pk__in=flow_ids))
    # Also draw where linked production flows came from, and what pending promotions promote.
    origins = {flow.promoted_from_id for flow in linked if flow.promoted_from_id}
    origins |= {ghost.source_flow_id for ghost in ghosts}
    all_flows = linked + list(flows.filter(pk__in=origins - flow_ids))
    staging = sorted((f for f in all_flows if f.stage == Stage.STAGING), key=lambda f: f.number)
    production = sorted(
        (f for f in all_flows if f.stage == Stage.PRODUCTION), key=lambda f: f.number
    )
    return links, staging, production, ghosts


def _place_flows(diagram, columns, left, staging_y, production_y):
    boxes = {}
    for index, (staging, production) in enumerate(columns):
        x = left + index * COLUMN
        if staging is not None:
            boxes[("flow", staging.pk)] = _flow_box(staging, x, staging_y)
        if isinstance(production, Promotion):
            boxes[("ghost", production.pk)] = _ghost_box(production, x, production_y)
        elif production is not None:
            boxes[("flow", production.pk)] = _flow_box(production, x, production_y)
    diagram.boxes.extend(boxes.values())
    for key, box in boxes.items():
        if key[0] == "ghost":
            promotion = next(p for _, p in columns if isinstance(p, Promotion) and p.pk == key[1])
            source = boxes.get(("flow", promotion.source_flow_id))
            if source is not None:
                diagram.arrows.append(_promotion_arrow(source, box, dashed=True))
    for _, production in columns:
        if isinstance(production, PaymentFlow) and production.promoted_from_id:
            source = boxes.get(("flow", production.promoted_from_id))
            if source is not None:
                target = boxes[("flow", production.pk)]
                diagram.arrows.append(_promotion_arrow(source, target))
    return boxes


def _promotion_arrow(source: Box, target: Box, dashed: bool = False) -> Arrow:
    return Arrow(
        source.centre_x,
        source.bottom,
        target.centre_x,
        target.y,
        BRAND_COLOUR if not dashed else MUTED_COLOUR,
        label="promoted" if not dashed else "pending",
        width=3,
        dashed=dashed,
        label_at=0.5,
    )


def _link_arrows(diagram, links, boxes, account_box, ghosts, account, from_side=False):
    now = timezone.now()
    for link in links:
        if link.account_id != account.pk:
            continue
        flow_box = boxes.get(("flow", link.flow_id))
        if flow_box is None:
            continue
        # Coloured by the last probe, as on the Link health page.
        health = link_health(link, now)
        arrow = _link_arrow(
            account_box, flow_box, _link_label(link, health), link.is_active, from_side
        )
        if link.is_active and health in HEALTH_COLOURS:
            arrow.colour = HEALTH_COLOURS[health]
        diagram.arrows.append(arrow)
    for ghost in ghosts:
        box = boxes.get(("ghost", ghost.pk))
        if ghost.target_account_id == account.pk and box is not None:
            label = f"id {ghost.configuration_id} (pending)"
            diagram.arrows.append(_link_arrow(account_box, box, label, False, from_side))


def _link_arrow(account_box: Box, flow_box: Box, label, active, from_side) -> Arrow:
    below = flow_box.y > account_box.y
    x2 = flow_box.centre_x
    if from_side:
        x1, y1 = account_box.x + account_box.width, account_box.y + account_box.height / 2
        y2 = flow_box.bottom if flow_box.y < y1 else flow_box.y
        x2 = flow_box.x + flow_box.width * 0.3  # clear of the promotion arrow at the centre
    else:
        x1 = account_box.centre_x
        y1 = account_box.bottom if below else account_box.y
        y2 = flow_box.y if below else flow_box.bottom
    colour = BRAND_COLOUR if active else MUTED_COLOUR
    return Arrow(x1, y1, x2, y2, colour, label=label, dashed=not active, label_at=0.72)


def separate_accounts_diagram() -> Diagram:
    """Topology A: sandbox accounts above the staging flows, production accounts below."""
    accounts = list(
        VccAccount.objects.filter(kind__in=[AccountKind.SANDBOX, AccountKind.PRODUCTION])
        .prefetch_related("credentials")
        .order_by("name")
    )
    diagram = Diagram(SEPARATE, "Separate accounts: a sandbox account and a production account")
    if not accounts:
        return diagram
    links, staging, production, ghosts = _load(accounts)
    columns = _columns(staging, production, ghosts)
    top, bottom = (
        [(account, _account_box(account, 0, 0)) for account in accounts if account.kind == kind]
        for kind in (AccountKind.SANDBOX, AccountKind.PRODUCTION)
    )
    left, gap = 150, 30
    top_height = max((box.height for _, box in top), default=0)
    staging_y = 20 + top_height + ROW_GAP * 0.8 if top else 40
    production_y = staging_y + FLOW_HEIGHT + ROW_GAP
    bottom_y = production_y + FLOW_HEIGHT + ROW_GAP * 0.8
    flows_width = max(len(columns), 1) * COLUMN - (COLUMN - FLOW_WIDTH)
    spans = [sum(box.width + gap for _, box in row) - gap for row in (top, bottom)]
    boxes = _place_flows(diagram, columns, left, staging_y, production_y)
    for row, y, span in [(top, 20, spans[0]), (bottom, bottom_y, spans[1])]:
        x = left + max((flows_width - span) / 2, 0)
        for account, box in row:
            box.x, box.y = x, y
            diagram.boxes.append(box)
            _link_arrows(diagram, links, boxes, box, ghosts, account)
            x += box.width + gap
    width = left + max(flows_width, *spans)
    bottom_height = max((box.height for _, box in bottom), default=0)
    diagram.captions += _row_captions(staging, production, 12, staging_y, production_y)
    diagram.width = width + 20
    diagram.height = (bottom_y + bottom_height + 20) if bottom else production_y + 90
    return diagram


def single_account_diagram(account: VccAccount) -> Diagram:
    """Topology B: one combined account beside both rows, linking staging and production."""
    diagram = Diagram(f"account-{account.pk}", f"Single account: {account.name}")
    links, staging, production, ghosts = _load([account])
    columns = _columns(staging, production, ghosts)
    staging_y, production_y = 40, 40 + FLOW_HEIGHT + ROW_GAP * 1.3
    account_box = _account_box(account, 20, 0)
    account_box.y = (staging_y + FLOW_HEIGHT + production_y) / 2 - account_box.height / 2
    left = 20 + account_box.width + 110
    boxes = _place_flows(diagram, columns, left, staging_y, production_y)
    diagram.boxes.append(account_box)
    _link_arrows(diagram, links, boxes, account_box, ghosts, account, from_side=True)
    right = left + max(len(columns), 1) * COLUMN
    diagram.captions += _row_captions(staging, production, right, staging_y, production_y, "end")
    diagram.width = right + 10
    diagram.height = production_y + FLOW_HEIGHT + 34
    return diagram


def _row_captions(staging, production, x, staging_y, production_y, anchor="start"):
    """Name each row's PCI node: left of the row, or above its right end."""
    captions = []
    for flows, y, colour, fallback in [
        (staging, staging_y, STAGING_COLOUR, "staging"),
        (production, production_y, PRODUCTION_COLOUR, "production"),
    ]:
        name = flows[0].environment.name if flows else fallback
        if anchor == "start":
            caption_y = y + FLOW_HEIGHT / 2 + 4
        else:  # the staging caption above its row, the production one below (arrows arrive on top)
            caption_y = y - 10 if colour == STAGING_COLOUR else y + FLOW_HEIGHT + 20
        captions.append(Caption(x, caption_y, name, colour, anchor))
    return captions


def topology_diagrams() -> list[Diagram]:
    """Every diagram the registry's data makes: the separate accounts, then each combined one."""
    diagrams = [separate_accounts_diagram()]
    combined = VccAccount.objects.filter(kind=AccountKind.COMBINED).prefetch_related("credentials")
    diagrams += [single_account_diagram(account) for account in combined.order_by("name")]
    return [diagram for diagram in diagrams if not diagram.is_empty]


def topology_diagram(slug: str) -> Diagram | None:
    """Return one diagram by its slug ("separate" or "account-<id>"), or None."""
    if slug == SEPARATE:
        diagram = separate_accounts_diagram()
        return None if diagram.is_empty else diagram
    if slug.startswith("account-") and slug[8:].isdigit():
        account = VccAccount.objects.filter(pk=int(slug[8:]), kind=AccountKind.COMBINED).first()
        return single_account_diagram(account) if account else None
    return None
