"""The seed's topology diagram drawn from live data: boxes and arrows laid out for an SVG.

Staging flows sit in one row, production flows in the row below, each under the staging flow
it was promoted from; accounts sit above (staging), below (production), or beside both rows
(a combined account). The SVG template only draws what this module places.
"""

from dataclasses import dataclass, field

from payments.models import (
    AccountConfiguration,
    AccountKind,
    PaymentFlow,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)

STAGING_COLOUR = "#0b6e8a"
PRODUCTION_COLOUR = "#8a1c4a"
BRAND_COLOUR = "#3b2b78"
MUTED_COLOUR = "#8f99a5"
INK_COLOUR = "#1d2733"

FLOW_WIDTH, FLOW_HEIGHT, COLUMN = 200, 58, 240
ACCOUNT_WIDTH, LINE = 250, 17
ROW_GAP = 150
SEPARATE = "separate"


@dataclass
class TextLine:
    text: str
    bold: bool = False
    colour: str = INK_COLOUR


@dataclass
class Box:
    x: float
    y: float
    width: float
    height: float
    lines: list[TextLine]
    stroke: str
    fill: str = "#ffffff"
    dashed: bool = False

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def text_x(self) -> float:
        return self.x + 12

    @property
    def text_rows(self) -> list[tuple[float, TextLine]]:
        return [(self.y + 21 + index * LINE, line) for index, line in enumerate(self.lines)]


@dataclass
class Arrow:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    label: str = ""
    width: float = 1.5
    dashed: bool = False
    label_at: float = 0.5

    @property
    def label_x(self) -> float:
        return self.x1 + (self.x2 - self.x1) * self.label_at

    @property
    def label_y(self) -> float:
        return self.y1 + (self.y2 - self.y1) * self.label_at

    @property
    def label_width(self) -> float:
        return 7 * len(self.label) + 10

    @property
    def label_box_x(self) -> float:
        return self.label_x - self.label_width / 2

    @property
    def label_box_y(self) -> float:
        return self.label_y - 10

    @property
    def marker(self) -> str:
        return "muted" if self.colour == MUTED_COLOUR else "brand"


@dataclass
class Caption:
    x: float
    y: float
    text: str
    colour: str
    anchor: str = "start"


@dataclass
class Diagram:
    slug: str
    title: str
    width: float = 0
    height: float = 0
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.boxes


def _short(text: str, limit: int = 30) -> str:
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
    lines = [TextLine(account.name, bold=True), TextLine(account.get_kind_display())]
    for credential in account.credentials.all():
        state = "" if credential.is_enabled else " · disabled"
        allowed = credential.get_allowed_environments_display().lower()
        colour = INK_COLOUR if credential.is_enabled else MUTED_COLOUR
        lines.append(TextLine(f"credentials {credential.label} · {allowed}{state}", colour=colour))
    height = 14 + LINE * len(lines)
    return Box(x, y, ACCOUNT_WIDTH, height, lines, stroke=BRAND_COLOUR, fill="#f4f2fb")


def _link_label(link: AccountConfiguration) -> str:
    return f"id {link.configuration_id}" + ("" if link.is_active else " (inactive)")


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
    account_ids = [account.pk for account in accounts]
    links = list(
        AccountConfiguration.objects.filter(account_id__in=account_ids)
        .select_related("account", "flow__environment")
        .order_by("configuration_id")
    )
    flow_ids = {link.flow_id for link in links}
    flows = PaymentFlow.objects.select_related("environment")
    linked = list(flows.filter(pk__in=flow_ids))
    # Show where linked production flows came from and where linked staging flows went.
    origins = {flow.promoted_from_id for flow in linked if flow.promoted_from_id}
    related = flows.filter(pk__in=origins - flow_ids)
    all_flows = linked + list(related)
    ghosts = list(
        Promotion.objects.filter(
            target_account_id__in=account_ids,
            state__in=[PromotionState.REQUESTED, PromotionState.APPROVED],
        ).order_by("pk")
    )
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
    for link in links:
        if link.account_id != account.pk:
            continue
        flow_box = boxes.get(("flow", link.flow_id))
        if flow_box is None:
            continue
        diagram.arrows.append(
            _link_arrow(account_box, flow_box, _link_label(link), link.is_active, from_side)
        )
    for ghost in ghosts:
        box = boxes.get(("ghost", ghost.pk))
        if ghost.target_account_id == account.pk and box is not None:
            label = f"id {ghost.configuration_id} (pending)"
            diagram.arrows.append(_link_arrow(account_box, box, label, False, from_side))


def _link_arrow(account_box: Box, flow_box: Box, label, active, from_side) -> Arrow:
    below = flow_box.y > account_box.y
    if from_side:
        x1, y1 = account_box.x + account_box.width, account_box.y + account_box.height / 2
        y2 = flow_box.bottom if flow_box.y < y1 else flow_box.y
    else:
        x1 = account_box.centre_x
        y1 = account_box.bottom if below else account_box.y
        y2 = flow_box.y if below else flow_box.bottom
    colour = BRAND_COLOUR if active else MUTED_COLOUR
    return Arrow(
        x1, y1, flow_box.centre_x, y2, colour, label=label, dashed=not active, label_at=0.72
    )


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
    top = [account for account in accounts if account.kind == AccountKind.SANDBOX]
    bottom = [account for account in accounts if account.kind == AccountKind.PRODUCTION]
    left = 150
    top_height = max([_account_box(a, 0, 0).height for a in top], default=0)
    staging_y = 20 + top_height + ROW_GAP * 0.8 if top else 40
    production_y = staging_y + FLOW_HEIGHT + ROW_GAP
    bottom_y = production_y + FLOW_HEIGHT + ROW_GAP * 0.8
    flows_width = max(len(columns), 1) * COLUMN
    width = max(left + flows_width, left + max(len(top), len(bottom), 1) * (ACCOUNT_WIDTH + 30))
    boxes = _place_flows(diagram, columns, left, staging_y, production_y)
    bottom_height = 0
    for row, y in [(top, 20), (bottom, bottom_y)]:
        span = len(row) * ACCOUNT_WIDTH + (len(row) - 1) * 30
        x = left + max((flows_width - span) / 2, 0)
        for account in row:
            box = _account_box(account, x, y)
            diagram.boxes.append(box)
            _link_arrows(diagram, links, boxes, box, ghosts, account)
            x += ACCOUNT_WIDTH + 30
            if row is bottom:
                bottom_height = max(bottom_height, box.height)
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
    left = 20 + ACCOUNT_WIDTH + 110
    boxes = _place_flows(diagram, columns, left, staging_y, production_y)
    diagram.boxes.append(account_box)
    _link_arrows(diagram, links, boxes, account_box, ghosts, account, from_side=True)
    right = left + max(len(columns), 1) * COLUMN
    diagram.captions += _row_captions(staging, production, right, staging_y, production_y, "end")
    diagram.width = right + 10
    diagram.height = production_y + FLOW_HEIGHT + 40
    return diagram


def _row_captions(staging, production, x, staging_y, production_y, anchor="start"):
    """Name each row's PCI node: left of the row, or above its right end."""
    captions = []
    for flows, y, colour, fallback in [
        (staging, staging_y, STAGING_COLOUR, "staging"),
        (production, production_y, PRODUCTION_COLOUR, "production"),
    ]:
        name = flows[0].environment.name if flows else fallback
        caption_y = y + FLOW_HEIGHT / 2 + 4 if anchor == "start" else y - 10
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
