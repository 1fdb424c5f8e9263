"""The /timeline picture: the application timeline's stages with the user's experiences
drawn on it as bars, as a PNG made for a phone.

The picture is 1080 px wide and at least as tall (portrait or square), every word on it at
least 28 px, on an opaque light card with a grey border so it reads the same in Telegram's
light and dark themes. Each experience has its own lane: two lines of text (kind and
specialty; place, months and status) above its bar. The level of an experience is told by
colour *and* fill pattern, a planned one by a dashed outline and the word in its label; the
stages are grey and numbered, with a key below the chart. The Today and application lines
are drawn only where no text is.

Pillow is imported here only, and this module only when a picture is asked for, so the
per-update path never pays for it. The fonts (DejaVu Sans Condensed) ship in
``content/fonts``. Every word on the picture comes from the text catalogue through the
``label`` callable (plain text, no HTML). :func:`render` is pure and also returns where each
text and line went, which the tests check; :func:`png` gives the file's bytes.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from PIL import Image, ImageDraw, ImageFont

from flows.base.content import CONTENT_DIR
from flows.domain.records import Experience, month_index, month_label, months_of

# label("today") -> "Today", label("title_application", month=...), label("tracker.type.elective")
Label = Callable[..., str]
RGB = tuple[int, int, int]

FONT_DIR = CONTENT_DIR / "fonts"
REGULAR, BOLD = "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"

WIDTH = 1080
MIN_HEIGHT = WIDTH  # portrait or square, never landscape
BORDER = 4
LEFT, RIGHT = 56, WIDTH - 56  # the chart's months run between these
MAX_LANES = 6  # more than this and the rest are counted in one line
# Text sizes (px). Nothing is drawn smaller than SMALL.
TITLE, SUBTITLE, BODY, SMALL = 48, 34, 30, 28
LINE_GAP = 8
TRACK = 34  # a bar's height
PILL = 46  # a Today / application marker's height

BACKGROUND: RGB = (255, 255, 255)
FRAME: RGB = (120, 126, 134)  # the card's border: visible on a white and on a dark chat
INK: RGB = (25, 28, 32)
MUTED: RGB = (78, 84, 92)
GRID: RGB = (206, 210, 215)
TODAY: RGB = (200, 30, 30)
APPLICATION: RGB = (106, 27, 154)
# Okabe-Ito colours (told apart with the common colour-vision deficiencies), each with its pattern.
LEVEL_COLOURS: dict[str, RGB] = {"hands_on": (0, 114, 178), "semi": (0, 140, 100), "non": (213, 130, 0)}
LEVEL_PATTERNS = {"hands_on": "solid", "semi": "stripes", "non": "dots"}
# Stages are achromatic, so they cannot be mistaken for a level.
STAGE_FILLS: tuple[RGB, ...] = ((70, 72, 76), (124, 127, 132))
TRACK_FILL: RGB = (238, 240, 243)  # a lane's empty track
STAGE_SHADE: RGB = (224, 227, 231)  # the part of a track inside a stage
GHOST_STEP = TRACK + 30  # empty tracks drawn when nothing is logged yet


@dataclass(frozen=True, slots=True)
class Window:
    """A timeline stage: its name and months [start, end) as month indexes."""

    title: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle on the picture, in pixels; ``what`` says what it holds."""

    x0: float
    y0: float
    x1: float
    y1: float
    what: str = ""
    text: str = ""
    size: int = 0

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


@dataclass(slots=True)
class Picture:
    """The rendered image and where everything went on it."""

    image: Image.Image
    texts: list[Box] = field(default_factory=list)  # every text's ink box
    lines: list[Box] = field(default_factory=list)  # every segment of the Today / application lines
    bars: list[Box] = field(default_factory=list)


# The four windows of the guide's timeline, in months before the application month,
# used when the plan's milestones cannot be loaded.
_FALLBACK = (("window_early", 36, 24), ("window_secure", 18, 12), ("window_letters", 12, 6),
             ("window_apply", 0, -12))


def windows(application: date | None, label: Label) -> list[Window]:
    """The timeline stages for an application month (none without one)."""
    if application is None:
        return []
    app = month_index(application)
    try:
        from flows.domain.plan import milestone_dates
    except ImportError:  # the plan feature is not installed: the guide's four windows
        return [Window(label(key), app - start, app - end) for key, start, end in _FALLBACK]
    return [
        Window(milestone.title, month_index(first), month_index(last) + 1)
        for milestone, first, last in milestone_dates(application)
    ]


@functools.cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / (BOLD if bold else REGULAR)), size)


def _safe(text: str) -> str:
    """Text the font can draw: no emoji or other symbols, spaces collapsed."""
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs", "Co", "Cn", "Cc"))
    return " ".join(text.replace("\ufe0f", "").split())


def _width(text: str, size: int, bold: bool = False) -> float:
    return font(size, bold).getlength(text)


def _fit(text: str, size: int, width: float, bold: bool = False) -> str:
    """``text`` cut with an ellipsis to at most ``width`` pixels ("" if nothing fits)."""
    if _width(text, size, bold) <= width:
        return text
    while text and _width(text + "…", size, bold) > width:
        text = text[:-1]
    return text.rstrip(" ·-–—,") + "…" if text else ""


def _wrap(text: str, size: int, width: float, lines: int, bold: bool = False) -> list[str]:
    """``text`` broken at spaces into at most ``lines`` lines of ``width`` px, the last one cut."""
    words, out = text.split(), list[str]()
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and _width(f"{line} {words[0]}", size, bold) <= width:
            line += " " + words.pop(0)
        if _width(line, size, bold) > width:  # one long word: cut it, keep the rest for later
            cut = _fit(line, size, width, bold)
            out.append(cut)
            continue
        out.append(line)
    if words:
        out.append(_fit(" ".join(words), size, width, bold))
    return [line for line in out if line]


class _Canvas:
    """A drawing surface that records every text box, so nothing is drawn over text."""

    def __init__(self, height: int) -> None:
        self.picture = Picture(Image.new("RGB", (WIDTH, height), BACKGROUND))
        self.pen = ImageDraw.Draw(self.picture.image)

    def text(self, x: float, y: float, text: str, size: int, fill: RGB = INK, bold: bool = False,
             what: str = "label") -> Box:
        left, top, right, bottom = self.pen.textbbox((x, y), text, font=font(size, bold))
        self.pen.text((x, y), text, font=font(size, bold), fill=fill)
        box = Box(left, top, right, bottom, what, text, size)
        self.picture.texts.append(box)
        return box

    def vertical(self, x: float, y0: float, y1: float, colour: RGB, dashed: bool) -> None:
        """A 4 px vertical line from y0 to y1, broken where it would cross a text."""
        half = 2
        blocked = sorted((b.y0 - 6, b.y1 + 6) for b in self.picture.texts
                         if b.x0 - 6 < x + half and x - half < b.x1 + 6 and b.y1 > y0 and b.y0 < y1)
        pieces, y = [], y0
        for top, bottom in blocked:
            if top > y:
                pieces.append((y, top))
            y = max(y, bottom)
        if y < y1:
            pieces.append((y, y1))
        for top, bottom in pieces:
            if dashed:
                for dy in range(int(top), int(bottom), 16):
                    end = min(dy + 10, bottom)
                    self._segment(x, dy, end, colour)
            else:
                self._segment(x, top, bottom, colour)

    def _segment(self, x: float, y0: float, y1: float, colour: RGB) -> None:
        if y1 - y0 < 2:
            return
        self.pen.rectangle((x - 2, y0, x + 1, y1), fill=colour)
        self.picture.lines.append(Box(x - 2, y0, x + 2, y1, "line"))


def _bar(canvas: _Canvas, box: tuple[float, float, float, float], level: str, planned: bool) -> None:
    """An experience's bar: its level's colour and pattern; a planned one has a dashed outline."""
    x0, y0, x1, y1 = (round(v) for v in box)
    colour = LEVEL_COLOURS.get(level, MUTED)
    pattern = LEVEL_PATTERNS.get(level, "solid")
    w, h = max(x1 - x0, 1), max(y1 - y0, 1)
    tint = tuple(int(c + (255 - c) * 0.72) for c in colour)
    tile = Image.new("RGB", (w, h), colour if pattern == "solid" else tint)
    pen = ImageDraw.Draw(tile)
    if pattern == "stripes":
        for k in range(-h, w + h, 12):
            pen.line((k, h, k + h, 0), fill=colour, width=5)
    elif pattern == "dots":
        for yy in range(4, h, 10):
            for xx in range(4 + (yy // 10 % 2) * 5, w, 10):
                pen.ellipse((xx - 2.5, yy - 2.5, xx + 2.5, yy + 2.5), fill=colour)
    if planned:  # hollow: the pattern shows only as a thin inner strip
        pen.rectangle((5, 5, w - 6, h - 6), fill=BACKGROUND)
    canvas.picture.image.paste(tile, (x0, y0))
    if planned:
        for xx in range(x0, x1, 14):
            canvas.pen.line((xx, y0, min(xx + 8, x1), y0), fill=colour, width=3)
            canvas.pen.line((xx, y1 - 1, min(xx + 8, x1), y1 - 1), fill=colour, width=3)
        canvas.pen.line((x0, y0, x0, y1), fill=colour, width=3)
        canvas.pen.line((x1 - 1, y0, x1 - 1, y1), fill=colour, width=3)
    else:
        canvas.pen.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=2)
    canvas.picture.bars.append(Box(x0, y0, x1, y1, level))


def _pill(canvas: _Canvas, centre: float, y: float, text: str, colour: RGB) -> Box:
    """A marker's name in white on its colour, centred on its line where the card allows."""
    width = _width(text, SMALL, bold=True) + 28
    x0 = min(max(centre - width / 2, LEFT - 30), RIGHT + 30 - width)
    canvas.pen.rounded_rectangle((x0, y, x0 + width, y + PILL), radius=PILL // 2, fill=colour)
    canvas.text(x0 + 14, y + 7, text, SMALL, fill=BACKGROUND, bold=True, what="marker")
    return Box(x0, y, x0 + width, y + PILL, "marker")


def _dates(exp: Experience, names: str) -> str:
    """"Jun 2025", "Jan – Feb 2026" or "Nov 2026 – Jan 2027"."""
    months = months_of(exp)
    first, last = month_label(months.start, names), month_label(months.stop - 1, names)
    if first == last:
        return first
    if months.start // 12 == (months.stop - 1) // 12:
        return f"{first.split()[0]} – {last}"
    return f"{first} – {last}"


def _year_step(scale: float) -> int:
    """Every how many years a year is written on the axis, so the labels never touch."""
    for step in (1, 2, 5, 10):
        if step * 12 * scale >= _width("2030", SMALL) + 24:
            return step
    return 20


def render(
    experiences: Sequence[Experience],
    application: int | None,
    today: int,
    bands: Sequence[Window],
    label: Label,
    month_names: str,
) -> Picture:
    """Lay out and draw the timeline."""
    shown = sorted(experiences, key=lambda e: (e.start, e.id))
    hidden = max(0, len(shown) - MAX_LANES)
    shown = shown[-MAX_LANES:]  # the most recent ones

    # The months shown: every stage, every experience and today, with a month's margin.
    edges = [today, today + 1]
    for band in bands:
        edges += [band.start, band.end]
    for exp in shown:
        months = months_of(exp)
        edges += [months.start, months.stop]
    if application is not None:
        edges += [application, application + 1]
    if not shown and application is None:
        edges += [today - 6, today + 12]
    lo, hi = min(edges) - 1, max(edges) + 1
    span = max(hi - lo, 12)
    scale = (RIGHT - LEFT) / span

    def x(month: float) -> float:
        return LEFT + (month - lo) * scale

    title = _safe(label("title"))
    subtitle = (_safe(label("title_application", month=month_label(application, month_names)))
                if application is not None else _safe(label("no_application")))
    marks = [(x(today + 0.5), TODAY, _safe(label("today")), False)]
    if application is not None:
        marks.append((x(application), APPLICATION, _safe(label("application")), True))
    # Markers whose names would touch go on two rows.
    pill_widths = [_width(text, SMALL, bold=True) + 28 for _, _, text, _ in marks]
    two_rows = len(marks) == 2 and abs(marks[0][0] - marks[1][0]) < (pill_widths[0] + pill_widths[1]) / 2 + 16
    lanes_text = [
        (
            _safe(f"{label('tracker.type.' + exp.type)} · {exp.specialty}"),
            _safe(" · ".join([_dates(exp, month_names), exp.institution]
                             + ([label("tracker.status." + exp.status)] if exp.status != "done" else []))),
        )
        for exp in shown
    ]
    chart = RIGHT - LEFT
    empty_lines = _wrap(_safe(label("empty")), BODY, chart, 3) if not experiences else []
    # The stages' key: number, name (on two lines if it must) and months.
    key_rows = []
    for band in bands:
        when = f"{month_label(band.start, month_names)} – {month_label(band.end - 1, month_names)}"
        room = chart - 52 - _width(when, SMALL) - 24
        key_rows.append((_wrap(_safe(band.title), SMALL, room, 2, bold=True), when))
    key_step = SMALL + 8
    legend = [("hands_on", False, _safe(label("legend_hands_on"))), ("semi", False, _safe(label("legend_semi"))),
              ("non", False, _safe(label("legend_non"))), ("hands_on", True, _safe(label("legend_planned")))]

    # Blocks from top to bottom: (height, painter). Gaps between them stretch to fill a square.
    lane_height = BODY + LINE_GAP + SMALL + 12 + TRACK + 26

    def heights_for(ghosts: int) -> dict[str, int]:
        return {
            "head": TITLE + 18 + SUBTITLE + 10,
            "marks": PILL * (2 if two_rows else 1) + (8 if two_rows else 0),
            "axis": SMALL + 14,
            "stages": 48 if bands else 0,
            "lanes": len(shown) * lane_height + (SMALL + 16 if hidden else 0)
            + (ghosts * GHOST_STEP + len(empty_lines) * (BODY + LINE_GAP) if empty_lines else 0),
            "key": sum(len(lines) * key_step + 10 for lines, _ in key_rows),
            "legend": 2 * (SMALL + 22),
        }

    gaps = {"head": 40, "marks": 28, "axis": 6, "stages": 10, "lanes": 22, "key": 44, "legend": 36}

    def natural_height(heights: dict[str, int]) -> int:
        return sum(h + gaps[k] for k, h in heights.items() if h) + 40

    # With nothing logged, empty tracks show where the bars will go and fill the square.
    ghosts = 0
    if empty_lines:
        ghosts = max(1, min(6, (MIN_HEIGHT - natural_height(heights_for(0))) // GHOST_STEP))
    heights = heights_for(ghosts)
    order = [k for k in heights if heights[k]]
    natural = natural_height(heights)
    stretch = (MIN_HEIGHT - natural) / len(order) if natural < MIN_HEIGHT else 0
    height = max(MIN_HEIGHT, natural)
    tops: dict[str, float] = {}
    y = 0.0
    for key in order:
        y += gaps[key] + stretch
        tops[key] = y
        y += heights[key]

    canvas = _Canvas(int(height))
    pen = canvas.pen

    # Head: title and what the timeline is measured against.
    top = tops["head"]
    canvas.text(LEFT, top, _fit(title, TITLE, chart, bold=True), TITLE, bold=True, what="title")
    canvas.text(LEFT, top + TITLE + 18, _fit(subtitle, SUBTITLE, chart), SUBTITLE, fill=MUTED, what="title")

    # Marker names.
    top = tops["marks"]
    for i, (px, colour, text, _) in enumerate(marks):
        row = 1 if two_rows and i == 1 else 0
        _pill(canvas, px, top + row * (PILL + 8), text, colour)
    line_top = top + PILL  # the lines start under the first row of names

    # Years along the top of the chart.
    top = tops["axis"]
    axis_y = top + SMALL + 12
    pen.line((LEFT - 8, axis_y, RIGHT + 8, axis_y), fill=MUTED, width=2)
    step = _year_step(scale)
    last_right = -1.0
    for month in range(lo, hi + 1):
        if month % 12 == 0 and (month // 12) % step == 0:
            pen.line((x(month), axis_y - 10, x(month), axis_y), fill=MUTED, width=2)
            text = str(month // 12)
            tx = x(month) + 6
            if tx > last_right + 12 and tx + _width(text, SMALL) <= WIDTH - BORDER - 12:
                last_right = canvas.text(tx, top, text, SMALL, fill=MUTED, what="axis").x1
        elif span <= 72:
            pen.line((x(month), axis_y - 5, x(month), axis_y), fill=MUTED, width=1)

    # Stages: numbered grey blocks (their names are in the key below).
    if bands:
        top = tops["stages"]
        for i, band in enumerate(bands):
            x0, x1 = x(band.start), x(band.end)
            pen.rectangle((x0, top, x1 - 1, top + 40), fill=STAGE_FILLS[i % 2])
            number = str(i + 1)
            if x1 - x0 >= _width(number, SMALL, bold=True) + 8:
                nx = (x0 + x1) / 2 - _width(number, SMALL, bold=True) / 2
                canvas.text(nx, top + 4, number, SMALL, fill=BACKGROUND, bold=True, what="stage")

    # Lanes: the label lines, then the bar with the stages shaded behind it.
    top = tops["lanes"]
    for (head, detail), exp in zip(lanes_text, shown, strict=True):
        months = months_of(exp)
        x0 = x(months.start)
        x1 = max(x(months.stop), x0 + 12)
        # Text starts above the bar and moves left only as far as it must to fit.
        first_w = min(_width(head, BODY, bold=True), chart)
        second_w = min(_width(detail, SMALL), chart)
        tx = max(LEFT, min(x0, RIGHT - max(first_w, second_w)))
        canvas.text(tx, top, _fit(head, BODY, RIGHT - tx, bold=True), BODY, bold=True)
        canvas.text(tx, top + BODY + LINE_GAP, _fit(detail, SMALL, RIGHT - tx), SMALL, fill=MUTED)
        track = top + BODY + LINE_GAP + SMALL + 12
        pen.rectangle((LEFT, track, RIGHT, track + TRACK), fill=TRACK_FILL)
        for band in bands:
            pen.rectangle((x(band.start), track, x(band.end) - 1, track + TRACK), fill=STAGE_SHADE)
        _bar(canvas, (x0, track, x1, track + TRACK), exp.level, exp.status == "planned")
        top += lane_height
    if hidden:
        canvas.text(LEFT, top, _fit(_safe(label("more", n=hidden)), SMALL, chart), SMALL, fill=MUTED)
        top += SMALL + 16
    for _ in range(ghosts):
        pen.rectangle((LEFT, top, RIGHT, top + TRACK), fill=TRACK_FILL)
        for band in bands:
            pen.rectangle((x(band.start), top, x(band.end) - 1, top + TRACK), fill=STAGE_SHADE)
        top += GHOST_STEP
    lanes_bottom = top
    for i, line in enumerate(empty_lines):
        canvas.text(LEFT, top + i * (BODY + LINE_GAP), line, BODY, fill=MUTED)

    # Today and the application month: lines through the chart, broken around every text.
    for px, colour, _, dashed in marks:
        canvas.vertical(px, line_top, lanes_bottom - 10, colour, dashed)

    # The stages' key.
    if bands:
        top = tops["key"]
        pen.line((LEFT, top - 16, RIGHT, top - 16), fill=GRID, width=2)
        yy = top
        for i, (lines, when) in enumerate(key_rows):
            pen.rectangle((LEFT, yy + 2, LEFT + 36, yy + SMALL + 6), fill=STAGE_FILLS[i % 2])
            number = str(i + 1)
            canvas.text(LEFT + 18 - _width(number, SMALL, bold=True) / 2, yy + 2, number, SMALL,
                        fill=BACKGROUND, bold=True, what="key")
            for j, line in enumerate(lines):
                canvas.text(LEFT + 52, yy + j * key_step, line, SMALL, bold=True, what="key")
            canvas.text(RIGHT - _width(when, SMALL), yy, when, SMALL, fill=MUTED, what="key")
            yy += len(lines) * key_step + 10

    # Legend of the bars: two columns of pattern swatches.
    top = tops["legend"]
    column = chart / 2
    for i, (level, planned, text) in enumerate(legend):
        lx, ly = LEFT + (i % 2) * column, top + (i // 2) * (SMALL + 22)
        _bar(canvas, (lx, ly, lx + 64, ly + SMALL + 6), level, planned)
        canvas.text(lx + 80, ly, _fit(text, SMALL, column - 92), SMALL, what="legend")
    canvas.picture.bars = canvas.picture.bars[: len(shown)]  # the legend's swatches are not bars

    # The card's border.
    pen.rectangle((0, 0, WIDTH - 1, height - 1), outline=FRAME, width=BORDER)
    return canvas.picture


def png(picture: Picture) -> bytes:
    """The rendered timeline as PNG bytes."""
    out = io.BytesIO()
    picture.image.save(out, format="PNG", optimize=True)
    return out.getvalue()
