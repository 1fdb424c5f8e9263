"""Who is asking: the facts about the reader an answer may depend on.

Where the guide branches (student or graduate, an older year of graduation, limited funds,
a visa), an answer is given for the reader's case. What the message itself says wins ("I
graduated in 2016", "final-year student", "on B1/B2", "no money for paid rotations"); what
is missing comes from the stored profile. These patterns read facts about the person, not
what the question is about: retrieval never sees them.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flows.domain.readiness import benchmarks

# The guide names an "older year of graduation" but gives no cut-off; the assistant's rule of
# thumb is one figure for the plan, /progress and answers alike (content/benchmarks.yaml), and
# the answer says so.
OLDER_AFTER_YEARS = benchmarks().older_graduation_years

_YEAR = r"((?:19[6-9]|20[0-4])\d)"
_YR = r"(?:year|yr)"
_SCHOOL = r"(?:med(?:ical)?\s+school|mbbs|md|medicine|med\s+college|medical\s+college|uni(?:versity)?)"
_GRAD_YEAR_RES = (
    re.compile(r"\b(?:graduat\w*|grad|passed out|pass out|passout|yog|class of|batch of|mbbs|"
               r"(?:finished|completed|done with)\s+(?:my\s+)?" + _SCHOOL + r")"
               r"(?:\s+(?:in|on|of|from|year|was|is|:|-|back in|since))*\s*" + _YEAR + r"\b"),
    re.compile(r"\b" + _YEAR + r"\s*(?:graduate|grad|passout|pass out|passed out|yog|batch)\b"),
    re.compile(r"\b(?:a\s+)?(?:doctor|physician|practi[cs]ing|qualified)\s+(?:since|from|in)\s+" + _YEAR + r"\b"),
)
# "I graduate in 2027", "graduating 2028", "will graduate in 2027": a year still to come is a student's
_WILL_GRADUATE_RE = re.compile(r"\b(?:i\s+graduate|graduating|will\s+graduate|going\s+to\s+graduate|"
                               r"expected\s+(?:to\s+)?graduat\w*|due\s+to\s+graduate)\b")
_GRADUATE_RE = re.compile(
    r"\b(i\s*(?:am|'m|m)\s+(?:an?\s+)?(?:img\s+|imgs\s+)?graduate|i\s+(?:have\s+|already\s+)*graduated|"
    r"already graduated|as a graduate|(?:recent|old|older|fresh|new)\s+grad(?:uate)?|"
    r"i\s*(?:am|'m|m)\s+(?:an?\s+)?(?:[a-z]+\s+){0,2}(?:grad|graduate|doctor|physician|md|mbbs\s+doctor)|"
    r"i\s+(?:have\s+|already\s+)?(?:finished|completed|done\s+with)\s+(?:my\s+)?"
    r"(?:" + _SCHOOL + r"|house\s*job|housemanship|internship)|"
    r"after\s+(?:my\s+)?graduation\s+i|not a student anymore|no longer a student|mbbs\s+graduate)\b"
)
_STUDENT_RE = re.compile(
    r"\b((?:final|last|penultimate|fourth|4th|fifth|5th|sixth|6th|third|3rd|second|2nd|first|1st|[1-7](?:st|nd|rd|th)?)"
    r"[\s-]+" + _YR + r"(?:\s+(?:of\s+)?(?:med(?:ical)?|mbbs|md))?(?:\s+school)?\s+student|"
    r"(?:currently\s+|now\s+)?in\s+(?:my\s+)?(?:final|penultimate|[1-7](?:st|nd|rd|th)?|fourth|fifth|sixth|third)"
    r"[\s-]+" + _YR + r"\b(?:\s+(?:of|at)\s+(?:med|medical|mbbs|school|\d))?|"
    r"i\s*(?:am|'m|m)\s+(?:a\s+|still\s+(?:a\s+)?)?(?:[a-z]+\s+)?(?:med(?:ical)?\s+|mbbs\s+)?student|"
    r"(?:med(?:ical)?|mbbs)\s+student|still\s+(?:in|enrolled\s+in|at)\s+(?:med(?:ical)?\s+)?school|"
    r"as\s+a\s+(?:med(?:ical)?\s+)?student|currently\s+(?:in|a)\s+(?:med(?:ical)?\s+school|student)|"
    r"^(?:a\s+)?(?:final[\s-]+" + _YR + r"\s+)?student\b|^(?:i\s*(?:am|'m|m)\s+)?(?:in\s+)?(?:my\s+)?"
    r"(?:final|penultimate)[\s-]+" + _YR + r"\b)"
)
_LIMITED_RE = re.compile(
    r"\b(no money|not much money|little money|low on money|tight budget|low budget|limited (?:funds|budget|money)|"
    r"small budget|on a budget|can\s*(?:no|')?t\s+afford|cannot afford|unable to afford|broke|can\s*(?:no|')?t\s+pay|"
    r"cannot pay|don'?t have (?:much |enough |the )?(?:money|funds)|no (?:funds|savings)|not (?:rich|wealthy)|"
    r"financial(?:ly)? (?:constraints?|problems?|issues?|weak|tight)|(?:money|funds|budget) (?:is|are) "
    r"(?:tight|limited|low|small|a problem|an issue)|short (?:of|on) (?:money|funds|cash))\b"
)
_OLDER_RE = re.compile(
    r"\b(older\s+(?:img|imgs|grad|grads|graduate|graduates|graduation year|yog|year of graduation)|"
    r"old\s+(?:grad|grads|graduate|img|yog|graduation year|year of graduation)|"
    r"yog\s+gap|graduation\s+gap|graduated\s+(?:long|many years|years)\s+ago|long\s+gap\s+since\s+graduation)\b"
)
_B1B2_RE = re.compile(r"\b(b1\s*/?\s*-?\s*b2|b1b2|b-1\s*/\s*b-2|tourist visa|visitor visa|visit visa)\b")
# "on an H4 visa", "j2 visa holder", "my visa is f1": a named visa the asker holds
_VISA_RE = re.compile(r"\b(?:on\s+(?:an?\s+|my\s+)?|my\s+visa\s+is\s+(?:an?\s+)?|have\s+(?:an?\s+)?)"
                      r"([a-z]-?\d[a-z]?)(?:\s+(?:visa|status))?\b|\b([a-z]-?\d[a-z]?)\s+(?:visa\s+)?(?:holder|status)\b")
_AUTHORIZED_RE = re.compile(r"\b(green\s*card(?:\s+holder)?|us\s+citizen|american\s+citizen|permanent\s+resident|"
                            r"(?:i\s+have\s+(?:an?\s+)?)?(?:ead|work\s+permit|work\s+authori[sz]ation))\b")


# visa answers as profiles and personas store them -> the reader's
_VISAS = {"needs_visa": "visitor", "visitor": "visitor", "can_work": "authorized", "authorized": "authorized",
          "b1b2": "b1b2", "unsure": "unsure", "none": "authorized"}


@dataclass(frozen=True, slots=True)
class Reader:
    status: str | None = None  # "student" | "graduate"
    grad_year: int | None = None
    budget: str | None = None  # "limited" | "moderate" | "flexible"
    visa: str | None = None  # "b1b2" | "visitor" | "authorized" | "unsure", or another status ("j2")
    older: bool = False  # says they graduated long ago, without a year
    told: frozenset[str] = frozenset()  # the fields the message itself gave

    @classmethod
    def from_profile(cls, fields: Mapping[str, Any] | None) -> Reader:
        """From a stored profile (``profiles`` columns) or a persona's ``profile`` mapping."""
        if not fields:
            return cls()
        status = fields.get("status")
        year = fields.get("grad_year", fields.get("graduation_year"))
        visa = fields.get("visa")
        visa = _VISAS.get(str(visa).lower().replace("/", "").replace(" ", ""), str(visa).lower()) if visa else None
        return cls(
            status=status if status in ("student", "graduate") else None,
            grad_year=int(year) if isinstance(year, int) or (isinstance(year, str) and year.isdigit()) else None,
            budget=fields.get("budget") or None,
            visa=visa,
        )

    def with_message(self, text: str) -> Reader:
        """This reader, updated with what the message says about them."""
        low = text.lower().replace("\u2019", "'")
        told: set[str] = set()
        found: dict[str, Any] = {}
        for pattern in _GRAD_YEAR_RES:
            m = pattern.search(low)
            if m:
                found["grad_year"] = int(m.group(1))
                break
        this_year = datetime.date.today().year
        to_come = "grad_year" in found and (found["grad_year"] > this_year or (
            found["grad_year"] == this_year and bool(_WILL_GRADUATE_RE.search(low))))
        if (_STUDENT_RE.search(low) and "graduated" not in low.split("student")[0][-40:]) or to_come:
            found["status"] = "student"
            if "grad_year" in found and not to_come:
                found.pop("grad_year")  # "class of 2019, now a 5th-year student" is unlikely; trust "student"
        elif _GRADUATE_RE.search(low) or "grad_year" in found:
            found["status"] = "graduate"
        if _OLDER_RE.search(low) and "grad_year" not in found:
            found["older"] = True
            found.setdefault("status", "graduate")
        if _LIMITED_RE.search(low):
            found["budget"] = "limited"
        named = _VISA_RE.search(low)
        if _B1B2_RE.search(low):
            found["visa"] = "b1b2"
        elif _AUTHORIZED_RE.search(low):
            found["visa"] = "authorized"
        elif named:
            found["visa"] = (named.group(1) or named.group(2)).replace("-", "")
        told.update(found)
        if found.get("status") == "student" and "grad_year" not in found:
            found["grad_year"] = None if self.status != "student" else self.grad_year
        return replace(self, **found, told=self.told | frozenset(told)) if found else self

    def older_graduate(self, year: int) -> bool:
        if self.status == "student":
            return False
        return self.older or (self.grad_year is not None and self.grad_year < year - OLDER_AFTER_YEARS)

    def cases(self, year: int) -> tuple[str, ...]:
        """The cases of ``flows.faq.entries.CASES`` that fit, most specific first."""
        found: list[str] = []
        if self.older_graduate(year):
            found.append("older_graduate")
        if self.status == "graduate" or (self.grad_year is not None and self.grad_year <= year and self.status is None):
            found.append("graduate")
        elif self.status == "student":
            found.append("student")
        if self.budget == "limited":
            found.append("limited_funds")
        if self.visa and self.visa not in ("authorized", "unsure"):
            found.append("visa")
        return tuple(found)

    @property
    def known(self) -> bool:
        return bool(self.status or self.grad_year or self.budget or self.visa)
