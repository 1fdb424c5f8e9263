"""What fits on a 360-dp phone: the width budget of a button label and of a reply.

Button labels are measured with the font Telegram's Android app draws them in: Roboto
Medium (weight 500, from the ``fontpkg-roboto`` package) at 15 dp. Pillow's
``ImageFont.getlength`` measures at 150 px and the result is divided by 10, so a width is
in dp with sub-pixel precision. Roboto has no emoji; an emoji (a flag's two letters
together) is counted as 20 dp (the app draws it about 1.3 times the text size), a variation
selector or joiner as nothing.

The row budget: on a 360-dp screen a private chat's message bubble, and the inline keyboard
under it, are at most 360 - 80 = 280 dp wide (the app keeps 80 dp for margins). Buttons in a
row share that width with 5 dp between neighbours, and each keeps 5 dp of padding on either
side of its label, which the app cuts with "…" past that. So a label in a row of ``n``
buttons has ``(280 - 5 (n - 1)) / n - 10`` dp: 270 alone, 127.5 two to a row, 80 three.
"""

from __future__ import annotations

import functools
import unicodedata

from PIL import ImageFont

from flows.base.types import Keyboard

SCREEN_DP = 360
MARGINS_DP = 80
KEYBOARD_DP = SCREEN_DP - MARGINS_DP
GAP_DP = 5
PADDING_DP = 5
TEXT_DP = 15
EMOJI_DP = 20
SCALE = 10  # measure at 10x the size, then divide
REPLY_CHARACTERS = 1000  # about one phone screen of text


@functools.cache
def _font() -> ImageFont.FreeTypeFont:
    import fontpkg_roboto

    path = next(fontpkg_roboto.ROOT.glob("files/Roboto[[]*.ttf"))
    font = ImageFont.truetype(str(path), TEXT_DP * SCALE)
    font.set_variation_by_axes([500, 100])  # weight Medium, normal width
    return font


# Symbols below U+1F000 that are drawn as emoji even without a variation selector
# (Unicode's Emoji_Presentation); others are text unless U+FE0F follows them.
_ZODIAC = range(0x2648, 0x2654)
DEFAULT_EMOJI = frozenset(
    (
        *_ZODIAC,
        *(0x231A, 0x231B, 0x23E9, 0x23EA, 0x23EB, 0x23EC, 0x23F0, 0x23F3, 0x25FD, 0x25FE, 0x2614, 0x2615),
        *(0x267F, 0x2693, 0x26A1, 0x26AA, 0x26AB, 0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE, 0x26D4, 0x26EA),
        *(0x26F2, 0x26F3, 0x26F5, 0x26FA, 0x26FD, 0x2705, 0x270A, 0x270B, 0x2728, 0x274C, 0x274E, 0x2753),
        *(0x2754, 0x2755, 0x2757, 0x2795, 0x2796, 0x2797, 0x27B0, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50, 0x2B55),
    )
)


def _emoji_count(label: str) -> tuple[int, str]:
    """How many emoji ``label`` draws, and the rest of its text."""
    count, rest = 0, []
    chars = list(label)
    i = 0
    while i < len(chars):
        code = ord(chars[i])
        selected = i + 1 < len(chars) and chars[i + 1] == "\ufe0f"
        if 0x1F1E6 <= code <= 0x1F1FF:  # a flag: two regional letters, one picture
            count += 1
            i += 2 if i + 1 < len(chars) and 0x1F1E6 <= ord(chars[i + 1]) <= 0x1F1FF else 1
            continue
        if code >= 0x1F000 or code in DEFAULT_EMOJI or (selected and code >= 0x2000):
            count += 1
        elif chars[i] not in ("\ufe0f", "\ufe0e", "\u200d") and unicodedata.category(chars[i]) != "Mn":
            rest.append(chars[i])
        i += 1
    return count, "".join(rest)


def label_width(label: str) -> float:
    """The width of ``label`` in dp, as the app draws it on a button."""
    emoji, text = _emoji_count(label)
    return emoji * EMOJI_DP + (_font().getlength(text) / SCALE if text else 0.0)


def row_budget(buttons: int) -> float:
    """The dp a label may take in a row of ``buttons`` buttons."""
    return (KEYBOARD_DP - GAP_DP * (buttons - 1)) / buttons - 2 * PADDING_DP


def too_wide(keyboard: Keyboard) -> list[str]:
    """The labels of ``keyboard`` that would be cut on a 360-dp phone, with their widths."""
    problems = []
    for row in keyboard:
        budget = row_budget(len(row))
        for button in row:
            width = label_width(button.label)
            if width > budget:
                problems.append(f"{button.label!r}: {width:.0f} dp > {budget:.0f} dp ({len(row)} in the row)")
    return problems
