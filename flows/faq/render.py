"""What the user sees first, as HTML: heading, answer and composed parts, for one response.

For each part: the heading (the entry's question) in bold; the verdict, when the message
was a yes/no question, then a case line that carries its own verdict ("Usually not. As a
graduate: ..."); the answer; the other case lines ("On a tight budget: ..."); and, for a
reader whose status is unknown, the entry's one line on how students and graduates differ.
Each part of a two-part answer keeps its case lines and its answer's opening line, then the
answer's further lines while the part stays within ``PART_CHARS`` (no "differs" line), so both
parts fit one phone screen; a part cut short gets its own topic button (``cut_parts``).
"""

from __future__ import annotations

from collections.abc import Callable

from flows.base.text import escape
from flows.faq.compose import Part, Response

PART_CHARS = 400  # each part of a two-part answer, headings aside: the two fit one phone screen
Translate = Callable[..., str]  # (key, **values) -> text, as Turn.t


def _label(t: Translate, name: str, year: int | None) -> str:
    if name == "older_graduate" and year:
        return t("faq.case_older_graduate_year", year=year)
    return t(f"faq.case_{name}")


def kept_lines(part: Part, budget: int | None = None) -> list[str]:
    """The answer's lines shown: all, or for one part of two the opening line and the next ones
    while they fit in ``budget`` characters beside the part's case lines."""
    body = part.entry.answer.split("\n")
    if budget is None:
        return body
    room = budget - sum(len(c.say) for _, c in part.cases)
    kept = body[:1]
    for line in body[1:]:
        if len("\n".join([*kept, line])) > room:
            break
        kept.append(line)
    return kept


def cut_parts(response: Response) -> tuple[Part, ...]:
    """The parts of a two-part answer shown cut short: their full text is one tap away."""
    if len(response.parts) < 2:
        return ()
    return tuple(p for p in response.parts if len(kept_lines(p, PART_CHARS)) < len(p.entry.answer.split("\n")))


def part_html(t: Translate, part: Part, year: int | None = None, budget: int | None = None) -> str:
    lines = [f"<b>{escape(part.entry.question)}</b>"]
    lead = [(n, c) for n, c in part.cases if c.verdict]
    rest = [(n, c) for n, c in part.cases if not c.verdict]
    answer = escape("\n".join(kept_lines(part, budget)))
    if part.verdict and not lead:
        answer = f"<b>{escape(part.verdict)}.</b> {answer}"
    for name, case in lead:
        verdict = f"<b>{escape(part.verdict)}.</b> " if part.verdict else ""
        lines.append(f"{verdict}{_label(t, name, year)} {escape(case.say)}")
    lines.append(answer)
    lines.extend(f"{_label(t, name, year)} {escape(case.say)}" for name, case in rest)
    if part.general and part.entry.differs and budget is None:
        lines.append(f"<i>{escape(part.entry.differs)}</i>")
    return "\n".join(lines)


def response_html(t: Translate, response: Response) -> str:
    """The answer's text (empty for a decline: that is a text of its own)."""
    year = response.reader.grad_year
    budget = PART_CHARS if len(response.parts) > 1 else None
    return "\n\n".join(part_html(t, p, year, budget) for p in response.parts)
