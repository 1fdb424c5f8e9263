"""What the user sees first, as HTML: heading, answer and composed parts, for one response.

For each part: the heading (the entry's question) in bold; the verdict, when the message
was a yes/no question, then a case line that carries its own verdict ("Usually not. As a
graduate: ..."); the answer; the other case lines ("On a tight budget: ..."); and, for a
reader whose status is unknown, the entry's one line on how students and graduates differ.
"""

from __future__ import annotations

from collections.abc import Callable

from flows.base.text import escape
from flows.faq.compose import Part, Response

Translate = Callable[..., str]  # (key, **values) -> text, as Turn.t


def _label(t: Translate, name: str, year: int | None) -> str:
    if name == "older_graduate" and year:
        return t("faq.case_older_graduate_year", year=year)
    return t(f"faq.case_{name}")


def part_html(t: Translate, part: Part, year: int | None = None) -> str:
    lines = [f"<b>{escape(part.entry.question)}</b>"]
    lead = [(n, c) for n, c in part.cases if c.verdict]
    rest = [(n, c) for n, c in part.cases if not c.verdict]
    answer = escape(part.entry.answer)
    if part.verdict and not lead:
        answer = f"<b>{escape(part.verdict)}.</b> {answer}"
    for name, case in lead:
        verdict = f"<b>{escape(part.verdict)}.</b> " if part.verdict else ""
        lines.append(f"{verdict}{_label(t, name, year)} {escape(case.say)}")
    lines.append(answer)
    lines.extend(f"{_label(t, name, year)} {escape(case.say)}" for name, case in rest)
    if part.general and part.entry.differs:
        lines.append(f"<i>{escape(part.entry.differs)}</i>")
    return "\n".join(lines)


def response_html(t: Translate, response: Response) -> str:
    """The answer's text (empty for a decline: that is a text of its own)."""
    year = response.reader.grad_year
    return "\n\n".join(part_html(t, p, year) for p in response.parts)
