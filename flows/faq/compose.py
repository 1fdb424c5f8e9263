"""From a message to what the user sees: one entry, or two for a two-part question.

- **The part asked.** A long message is also read sentence by sentence (the sentences that
  ask something); the reading whose best entry clears the decline rule by most is kept, so a
  question inside a life story is found. A message declined as a whole is also read from the
  question after a comma ("usce in NY but applying in Texas, does location matter?"); a
  clause that points back ("..., is it good for me?") is read with the clause before it.
- **Two parts.** A message that asks two things ("when do I ask for a letter and what do I
  give them") or sets two things side by side gets both entries, when each half on its own
  clears the decline rule with a different entry.
- **A near tie.** When two entries score almost alike in a one-part message, the best is
  answered and the runner-up is the first topic button under it (``flows.features.ask``):
  on both tuning splits the best of a near tie was the right answer, and asking first cost
  the user a tap each time.
- **The reader's case.** Each part carries the case lines that fit the reader
  (``flows.faq.reader``) and whether to lead with the entry's verdict: only for a yes/no
  question, and the verdict of what the entry advises against when the question is nearer
  that in meaning ("is it ok to ask for a letter on day one?").
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from flows.faq.entries import Case, FaqEntry
from flows.faq.index import FaqIndex, Match
from flows.faq.reader import Reader

PAIR_RATIO = 0.5  # in a two-part message, a runner-up this close to the best entry is the second part
MIN_PART_WORDS = 3  # a half shorter than this is not a question of its own
LONG_WORDS = 25  # from this many words on, sentences are read on their own too
CLAUSE_WORDS = 10  # from this many words on, a question after a comma is read on its own too
MAX_PARTS = 2
MAX_READINGS = 12  # readings of a long message's sentences (bounds the time on a wall of text)
MAX_CASES = 2

_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?\n]*")
_QWORD = (r"(?:what|when|how|who|whom|which|where|why|should|shall|do|does|did|is|are|can|could|will|would|"
          r"must|any|also)")
_AND_RE = re.compile(r"(?:,\s*|\s+)(?:and|&|plus|also)\s+(?=(?:(?:for|in|at|with|from|to|on)\s+)?" + _QWORD + r"\b)"
                     r"|\?\s*(?=\S)|;\s*")
_VERSUS_RE = re.compile(r"\s+(?:vs\.?|versus|or)\s+|\s*/\s*(?=[a-z])")
_SHARED_RE = re.compile(r"^(.+?\b(?:in|for|on|at|into|from))\s+(.+?)\s+and\s+(in|for|on|at|into|from)\s+(.+)$", re.I)
_COMPARE_CUE_RE = re.compile(r"\b(?:better|best|more|worse|stronger|weaker|prefer\w*|value|compare\w*|difference|"
                             r"vs|versus|instead|which)\b")
_POLAR_RE = re.compile(
    r"^(?:(?:so|but|and|also|ok|okay|hi|hello|hey|sir|madam|please|pls|plz|quick question)[,:!.]?\s+)*"
    r"(?:is|are|am|was|were|do|does|did|can|could|should|shall|will|would|must|has|have|had|may|might|"
    r"isn't|aren't|don't|doesn't|can't|won't|shouldn't|need i|any)\b"
)
_TAG_RE = re.compile(r"\b(?:right|true|correct|or not|yes or no|isn't it|is it|worth it|ok|okay)\s*\??\s*$")
_WH_RE = re.compile(r"^(?:(?:so|but|and|ok|okay|hi|hello|hey|sir|please|pls|plz)[,:!.]?\s+)*"
                    r"(?:what|whats|what's|how|when|where|which|who|whom|why|wat|wen|hw)\b")
# "during an observership can I ...": the question inverted after an opening phrase, no wh-word before it
_INVERTED_RE = re.compile(r"\b(?:can|could|should|shall|will|would|do|does|is|are|may|must)\s+"
                          r"(?:i|we|it|my|this|that|there)\b")
_WH_WORD_RE = re.compile(r"\b(?:what|whats|how|when|where|which|who|whom|why|wat|wen|hw)\b")
# "should I email the PD or a faculty member?", "X vs Y, which is better": a choice, not a yes/no question
_ALTERNATIVE_RE = re.compile(r"\b(?:which|vs\.?|versus)\b|"
                             r"\s+or\s+(?:a|an|the|my|\d+)\b[^,?]*\?*\s*$")
_CLAUSE_RE = re.compile(r"[,.;:!?\n]|\s[-–—]+\s")
_COMMA_RE = re.compile(r",\s+")
# a clause that points back ("is either hands-on?", "what is it") cannot be read without what came before
_BACK_RE = re.compile(r"\b(?:it|either|both|them|they|that|this|one|ones|these|those)\b")
_ASKS_RE = re.compile(r"\?|^(?:" + _QWORD + r"|tell me|explain|pls|please|plz|kindly|i want to know|"
                      r"i need to know|wondering)\b")


@dataclass(frozen=True, slots=True)
class Part:
    entry: FaqEntry
    verdict: str | None  # shown first: the message is a yes/no question
    cases: tuple[tuple[str, Case], ...]  # the reader's case lines
    general: bool  # no status known: the entry's one line on how students and graduates differ


@dataclass(frozen=True, slots=True)
class Response:
    parts: tuple[Part, ...]  # empty: declined
    match: Match  # of the reading kept
    reader: Reader

    @property
    def matched(self) -> bool:
        return bool(self.parts)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.entry.id for p in self.parts)

    @property
    def confidence(self) -> float:
        return self.match.confidence


def is_polar(text: str) -> bool:
    """A yes/no question: "is paid USCE worth it?", "graduated 2016, can I still...?",
    "observership only — ok?"; never one that opens with what / how / when..."""
    low = text.strip().lower()
    if _WH_RE.match(low) or _ALTERNATIVE_RE.search(low):
        return False
    clauses = [c.strip() for c in _CLAUSE_RE.split(low) if c.strip()]
    return any(_POLAR_RE.match(c) or _TAG_RE.search(c) or _inverted(c) for c in clauses)


def _inverted(clause: str) -> bool:
    found = _INVERTED_RE.search(clause)
    return found is not None and not _WH_WORD_RE.search(clause[: found.start()])


def two_part(text: str) -> bool:
    """A message that asks two things or sets two side by side."""
    low = text.lower()
    return text.count("?") >= 2 or bool(_AND_RE.search(low)) or bool(
        _COMPARE_CUE_RE.search(low) and _VERSUS_RE.search(low)
    )


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.findall(text) if s.strip()]


def _halves(sentence: str) -> list[str]:
    """The two questions of a two-part sentence, else the sentence alone."""
    parts = [p.strip(" ,.?") for p in _AND_RE.split(sentence) if p and p.strip(" ,.?")]
    if len(parts) < 2 and _COMPARE_CUE_RE.search(sentence.lower()):
        parts = [p.strip(" ,.?") for p in _VERSUS_RE.split(sentence) if p.strip(" ,.?")]
        last, _, asked = parts[-1].rpartition(", ") if parts else ("", "", "")
        if len(parts) >= 2 and last and asked:  # "research fellow vs scribe, which counts?": each side asks it
            parts = [f"{side}, {asked}" for side in (*parts[:-1], last)]
    shared = _SHARED_RE.match(sentence.strip(" ,.?")) if len(parts) < 2 else None
    if shared:  # "how do I show it in ERAS and in my statement": each place asked with the shared question
        asked, first, prep, second = shared.groups()
        parts = [f"{asked} {first}", f"{asked.rsplit(' ', 1)[0]} {prep} {second}"]
    return [p for p in parts if len(p.split()) >= MIN_PART_WORDS] if len(parts) >= 2 else [sentence]


def _margin(index: FaqIndex, match: Match) -> float:
    return match.confidence - max(index.threshold, match.decline + index.margin)


def _case_lines(entry: FaqEntry, reader: Reader, year: int) -> tuple[tuple[str, Case], ...]:
    found: list[tuple[str, Case]] = []
    for name in reader.cases(year):
        case = entry.case(name)
        if case is None:
            continue
        if name == "graduate" and any(n == "older_graduate" for n, _ in found):
            continue  # the older graduate's line says it for them
        found.append((name, case))
    return tuple(found[:MAX_CASES])


def _part(index: FaqIndex, entry: FaqEntry, text: str, reader: Reader, year: int) -> Part:
    cases = _case_lines(entry, reader, year)
    polar = is_polar(text)
    case_verdict = next((c.verdict for _, c in cases if c.verdict), None)
    verdict = None
    if polar:
        verdict = case_verdict or entry.verdict
        if entry.against is not None and not case_verdict and index.asks_against(entry, text):
            verdict = entry.against.verdict
    status_known = reader.status is not None or any(n in ("student", "graduate", "older_graduate") for n, _ in cases)
    return Part(entry, verdict, cases, general=entry.differs is not None and not status_known)


def respond(
    index: FaqIndex,
    text: str,
    reader: Reader | None = None,
    today: datetime.date | None = None,
    *,
    entry: FaqEntry | None = None,
) -> Response:
    """What to show for ``text`` asked by ``reader``; see the module docstring. With ``entry``
    (a topic button pressed), that entry for that reader."""
    reader = (reader or Reader()).with_message(text)
    year = (today or datetime.date.today()).year
    if entry is not None:
        return Response((_part(index, entry, text, reader, year),), Match(entry, 1.0, ((entry, 1.0),)), reader)
    sentences = _sentences(text)
    readings: list[str] = []  # the long message's sentences that ask something, alone and with the one before
    if len(text.split()) >= LONG_WORDS and len(sentences) > 1:
        for i, sentence in enumerate(sentences):
            if _ASKS_RE.search(sentence.lower()) or i == len(sentences) - 1:
                readings += [sentence, f"{sentences[i - 1]} {sentence}"] if i else [sentence]
    clauses: list[str] = []  # "in NY but applying in Texas, does location matter?": the question after a comma
    if len(text.split()) >= CLAUSE_WORDS:
        for sentence in sentences:
            pieces = _COMMA_RE.split(sentence)
            for k, clause in enumerate(pieces[1:], start=1):
                low = clause.lower()
                if not _ASKS_RE.search(low) or len(clause.split()) < MIN_PART_WORDS:
                    continue
                if _BACK_RE.search(low):  # "i work as a scribe, is it good ...": read with what it points back to
                    clause = f"{pieces[k - 1]}, {clause}" if k > 1 else ""
                if clause and clause not in readings:
                    clauses.append(clause)
    asked = [s for s in sentences if _ASKS_RE.search(s.lower())] or sentences
    halves = [h for s in asked for h in _halves(s)]
    if len(halves) < 2:
        halves = []
    # "what makes a strong elective and what documents do they ask for": a half that points back
    # is read with the half before it, and answered by an entry other than that half's
    joined = {i for i, h in enumerate(halves) if i and _BACK_RE.search(h.lower())}
    halves = [f"{halves[i - 1]}, {h}" if i in joined else h for i, h in enumerate(halves)]
    matches = index.match_many([text, *readings[:MAX_READINGS], *clauses[:MAX_READINGS], *halves])
    best, best_text = matches[text], text
    for reading in readings[:MAX_READINGS]:
        m = matches[reading]
        if m.matched and _margin(index, m) > _margin(index, best):
            best, best_text = m, reading
    if best.entry is None:  # declined as a whole: the background may have outweighed the question
        for reading in clauses[:MAX_READINGS]:
            m = matches[reading]
            if m.matched and _margin(index, m) > _margin(index, best):
                best, best_text = m, reading
    # two parts: each half of a two-part sentence answered by a different entry
    if halves:
        found: list[tuple[FaqEntry, str]] = []
        for i, half in enumerate(halves):
            m = matches[half]
            fresh = [e for e, score in m.candidates if all(e.id != f.id for f, _ in found)
                     and index.accepts(score, m.decline)] if m.entry is not None else []
            if fresh and (i in joined or fresh[0] is m.entry):
                found.append((fresh[0], half))
        if len(found) >= 2 and (best.entry is None or best.entry.id in {e.id for e, _ in found[:MAX_PARTS]}):
            parts = tuple(_part(index, e, h, reader, year) for e, h in found[:MAX_PARTS])
            return Response(parts, best, reader)
    if best.entry is None:
        return Response((), best, reader)
    second = best.candidates[1] if len(best.candidates) > 1 else None
    if (
        second is not None
        and two_part(text)
        and second[1] >= PAIR_RATIO * best.confidence
        and index.accepts(second[1], best.decline)
    ):
        parts = (_part(index, best.entry, best_text, reader, year), _part(index, second[0], best_text, reader, year))
        return Response(parts, best, reader)
    return Response((_part(index, best.entry, best_text, reader, year),), best, reader)
