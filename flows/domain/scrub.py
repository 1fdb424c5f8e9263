"""Obvious personal details taken out of a text that is kept for others to read (questions the
assistant could not answer are read by content authors): email addresses, phone numbers, long
runs of digits, passport-like codes, and the name after "my name is". What is left still says what
was asked: "my name is [name], is my passport [id] enough for an observership?".
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL_USER = re.compile(r"(?i)\b(?:t\.me|wa\.me|telegram\.me)/\S+")
# "+1 (555) 123-4567", "0049 30 1234567", "555.123.4567": seven digits or more, with separators
PHONE = re.compile(r"(?<![\w+])\+?\d[\d().-]*[\s().-][\d\s().-]*\d(?!\w)")
DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}(?:[-./]\d{1,2})?|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{4}\s*[-–]\s*\d{2,4}")
LONG_DIGITS = re.compile(r"\d{6,}")
# K1234567, AB1234567, X12345678, 12AB34567: letters and digits mixed, with at least five digits
CODE = re.compile(r"\b(?=[A-Za-z0-9]*[A-Za-z])(?=(?:[A-Za-z]*\d){5})[A-Za-z0-9]{6,14}\b")
HANDLE = re.compile(r"(?<![\w.])@[A-Za-z]\w{3,31}\b")
_NOT_A_NAME = r"(?!(?:and|but|or|from|is|am|i|my|a|an|the|in|at|on|by|with|to|for|back|later|if|when|please)\b)"
# "my name is Ann Lee", "I'm called Ann", "call me Dr. Ann": up to three words after it
NAME = re.compile(
    r"(?i)\b(my name is|my name's|name is|i am called|i'm called|call me)\s+"
    r"(?:(?:dr|doctor|mr|mrs|ms)\.?\s+)?"
    rf"({_NOT_A_NAME}[^\W\d_][\w'’-]*(?:\s+{_NOT_A_NAME}[^\W\d_][\w'’-]*){{0,2}})"
)


def _digits(match: re.Match[str]) -> int:
    return sum(ch.isdigit() for ch in match.group(0))


def scrub(text: str) -> str:
    """``text`` with obvious personal details replaced by [email], [phone], [number], [id],
    [handle] and [name]."""
    text = EMAIL.sub("[email]", text)
    text = URL_USER.sub("[handle]", text)
    text = HANDLE.sub("[handle]", text)
    text = NAME.sub(lambda m: f"{m.group(1)} [name]", text)
    text = CODE.sub("[id]", text)
    text = PHONE.sub(lambda m: m.group(0) if _digits(m) < 7 or DATE_LIKE.fullmatch(m.group(0)) else "[phone]", text)
    return LONG_DIGITS.sub("[number]", text)
