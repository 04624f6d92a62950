"""The shapes a topology diagram is made of, placed in SVG user units."""

from dataclasses import dataclass, field

STAGING_COLOUR = "#0b6e8a"
PRODUCTION_COLOUR = "#8a1c4a"
BRAND_COLOUR = "#3b2b78"
MUTED_COLOUR = "#8f99a5"
INK_COLOUR = "#1d2733"
# A link's arrow by its last probe (the Link health page's colours; never probed: BRAND_COLOUR).
HEALTH_COLOURS = {"ok": "#1f7a3d", "failed": "#b3261e", "stale": "#9a5b00"}

FLOW_WIDTH, FLOW_HEIGHT, COLUMN = 210, 58, 250
ACCOUNT_WIDTH, LINE = 250, 17
CHAR_WIDTH = 7.2  # an average 13px sans-serif character, to size boxes to their text
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
        if self.colour == MUTED_COLOUR:
            return "muted"
        health = {colour: name for name, colour in HEALTH_COLOURS.items()}
        return health.get(self.colour, "brand")


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
