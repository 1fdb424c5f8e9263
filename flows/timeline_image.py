"""The /timeline picture: the application timeline's windows with the user's experiences
drawn on it as bars, as a phone-sized PNG.

Pillow is imported here only, and this module only when a picture is asked for, so the
per-update path never pays for it. Every word on the picture comes from the text
catalogue through the ``label`` callable (plain text, no HTML).
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw, ImageFont

from flows.experiences import Experience, month_index, month_label, months_of

# label("today") -> "Today", label("title_application", month=...), label("tracker.type.elective")
Label = Callable[..., str]

WIDE_FONT = "DejaVuSans.ttf"  # found by FreeType in the system's font folders, if installed
WIDTH, MIN_HEIGHT = 1000, 600
LEFT, RIGHT = 40, 960
HEADER, LANE, FOOTER = 150, 46, 120
MAX_LANES = 10

BACKGROUND = (255, 255, 255)
INK = (33, 37, 41)
MUTED = (110, 117, 125)
GRID = (222, 226, 230)
TODAY = (200, 40, 40)
LEVEL_COLOURS = {"hands_on": (46, 125, 50), "semi": (230, 140, 0), "non": (30, 111, 217)}
BAND_COLOURS = ((234, 241, 251), (232, 245, 233), (255, 243, 224), (243, 232, 253), (236, 239, 241))


@dataclass(frozen=True, slots=True)
class Window:
    """A timeline window: its name and months [start, end) as month indexes."""

    title: str
    start: int
    end: int


# The four windows of the guide's timeline, in months before the application month,
# used when the plan's milestones cannot be loaded.
_FALLBACK = (("window_early", 36, 24), ("window_secure", 18, 12), ("window_letters", 12, 6),
             ("window_apply", 0, -12))


def windows(application: date | None, label: Label) -> list[Window]:
    """The timeline windows for an application month (none without one)."""
    if application is None:
        return []
    app = month_index(application)
    try:
        from flows.plan import milestone_dates
    except ImportError:  # the plan feature is not installed: the guide's four windows
        return [Window(label(key), app - start, app - end) for key, start, end in _FALLBACK]
    return [
        Window(milestone.title.split(" — ")[0], month_index(first), month_index(last) + 1)
        for milestone, first, last in milestone_dates(application)
    ]


@functools.cache
def _wide() -> bool:
    """Whether the system has DejaVu Sans (wide coverage); if not, Pillow's built-in font is used."""
    try:
        ImageFont.truetype(WIDE_FONT, 16)
    except OSError:
        return False
    return True


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(WIDE_FONT, size) if _wide() else ImageFont.load_default(size=size)


_DASHES = str.maketrans({"–": "-", "—": "-", "‒": "-", "−": "-", "→": ">"})


def _safe(text: str) -> str:
    """Text the font can draw: no emoji; with the built-in font (Latin only, no accents),
    accents folded ("Hôpital" -> "Hopital") and dashes made plain."""
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs", "Co", "Cn"))
    if not _wide():
        text = unicodedata.normalize("NFKD", text.translate(_DASHES))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.split())


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: float) -> str:
    """``text`` made drawable and cut with an ellipsis to at most ``width`` pixels ("" if nothing fits)."""
    text = _safe(text)
    font = _font(size)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…" if text else ""


def draw(
    experiences: Sequence[Experience],
    application: int | None,
    today: int,
    bands: Sequence[Window],
    label: Label,
    month_names: str,
) -> bytes:
    """Render the timeline as PNG bytes."""
    shown = sorted(experiences, key=lambda e: (e.start, e.id))
    hidden = max(0, len(shown) - MAX_LANES)
    shown = shown[-MAX_LANES:]  # the most recent ones
    lanes = max(len(shown), 3)
    height = max(MIN_HEIGHT, HEADER + lanes * LANE + FOOTER)

    # The months shown: every window, every experience and today, with a month's margin.
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

    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    pen = ImageDraw.Draw(image)
    top, bottom = HEADER - 10, HEADER + lanes * LANE

    # Title
    title = label("title")
    if application is not None:
        title += "  ·  " + label("title_application", month=month_label(application, month_names))
    pen.text((LEFT, 18), _fit(pen, title, 28, RIGHT - LEFT), font=_font(28), fill=INK)

    # Windows: shaded bands with their names on two staggered rows.
    for i, band in enumerate(bands):
        colour = BAND_COLOURS[i % len(BAND_COLOURS)]
        pen.rectangle((x(band.start), top, x(band.end), bottom), fill=colour)
        room = x(bands[i + 2].start) - x(band.start) - 6 if i + 2 < len(bands) else RIGHT + 30 - x(band.start)
        pen.text((x(band.start) + 3, 70 + (i % 2) * 26), _fit(pen, band.title, 17, room),
                 font=_font(17), fill=INK)

    # Year grid and labels along the bottom.
    axis = bottom + 8
    pen.line((LEFT, axis, RIGHT, axis), fill=MUTED, width=2)
    for month in range(lo, hi + 1):
        if month % 12 == 0:
            pen.line((x(month), top, x(month), axis + 6), fill=GRID, width=1)
            pen.text((x(month) + 3, axis + 6), str(month // 12), font=_font(17), fill=MUTED)
        elif span <= 72:
            pen.line((x(month), axis, x(month), axis + 4), fill=MUTED, width=1)

    # Experiences, one per lane: filled when done or under way, outlined when planned.
    for lane, exp in enumerate(shown):
        months = months_of(exp)
        y0 = HEADER + lane * LANE + 6
        y1 = y0 + LANE - 14
        x0, x1 = x(months.start), max(x(months.stop), x(months.start) + 4)
        colour = LEVEL_COLOURS.get(exp.level, MUTED)
        if exp.status == "planned":
            pen.rectangle((x0, y0, x1, y1), fill=BACKGROUND, outline=colour, width=3)
            ink = colour
        else:
            pen.rectangle((x0, y0, x1, y1), fill=colour)
            ink = BACKGROUND
        text = f"{label('tracker.type.' + exp.type)} · {exp.institution}"
        if x1 - x0 >= 120:
            pen.text((x0 + 6, y0 + 7), _fit(pen, text, 16, x1 - x0 - 12), font=_font(16), fill=ink)
        elif RIGHT - x1 >= 140:
            pen.text((x1 + 6, y0 + 7), _fit(pen, text, 16, RIGHT + 30 - x1 - 6), font=_font(16), fill=INK)
        else:
            pen.text((LEFT, y0 + 7), _fit(pen, text, 16, x0 - LEFT - 6), font=_font(16), fill=INK)
    if hidden:
        pen.text((LEFT, bottom - 22), _safe(label("more", n=hidden)), font=_font(16), fill=MUTED)
    if not experiences:
        pen.text((LEFT + 10, HEADER + LANE), _fit(pen, label("empty"), 20, RIGHT - LEFT - 20),
                 font=_font(20), fill=MUTED)

    # Today and the application month.
    marks: list[tuple[float | None, tuple[int, int, int], str, int]] = [
        (today + 0.5, TODAY, "today", 0),
        (application, INK, "application", 1),
    ]
    for at, colour, key, row in marks:
        if at is None:
            continue
        px = x(at)
        for y in range(int(top), int(bottom), 12):
            pen.line((px, y, px, min(y + 7, bottom)), fill=colour, width=3)
        text = _safe(label(key))
        width = pen.textlength(text, font=_font(16))
        tx = min(max(px - width / 2, 4), WIDTH - width - 4)
        pen.text((tx, axis + 30 + row * 22), text, font=_font(16), fill=colour)

    # Legend
    ly = height - 36
    lx = float(LEFT)
    for key, colour, planned in (("legend_hands_on", LEVEL_COLOURS["hands_on"], False),
                                 ("legend_semi", LEVEL_COLOURS["semi"], False),
                                 ("legend_non", LEVEL_COLOURS["non"], False),
                                 ("legend_planned", MUTED, True)):
        if planned:
            pen.rectangle((lx, ly, lx + 22, ly + 18), fill=BACKGROUND, outline=colour, width=3)
        else:
            pen.rectangle((lx, ly, lx + 22, ly + 18), fill=colour)
        text = _safe(label(key))
        pen.text((lx + 30, ly), text, font=_font(16), fill=INK)
        lx += 30 + pen.textlength(text, font=_font(16)) + 28

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
