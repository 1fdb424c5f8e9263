"""Text as the FAQ model reads it: normalised words, and typo repair that leaves English alone.

There is no synonym list and no hand-written cue: what "rec letter" or "obs" mean is learned
by the classifier and the embeddings from the examples. Typo repair is the one rewrite, and
it touches only a word that is neither English (``content/english_words.txt.gz``, written
by ``python -m bench.faq_words``) nor a word of the model's own vocabulary: it becomes the
closest vocabulary word (Damerau-Levenshtein, one edit; two for words of nine letters or
more); of equally close words, first one the typed word could be with letters left out
("recnt" is "recent" more likely than "rent": phone typing and text-speak drop letters far
more often than they add them), then the one most frequent in English (the list is in
frequency order), then the first in alphabetical order.
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from flows.base.content import CONTENT_DIR, ContentError

WORDS_PATH = CONTENT_DIR / "english_words.txt.gz"
MIN_FIX_LENGTH = 4  # shorter words are abbreviations as often as typos
MAX_FIXES = 32  # unknown words looked up per message (bounds the time spent on garbage)

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    """NFKC, lower case, straight quotes, one space between words."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(text.encode("utf-8", "replace").decode("utf-8").split())


def tokens(text: str) -> list[str]:
    """The words and numbers of a normalised text ("b1/b2" -> "b1", "b2")."""
    return _TOKEN_RE.findall(text.replace("'", ""))


def load_english(path: Path = WORDS_PATH) -> list[str]:
    """English words, the most frequent first."""
    try:
        return gzip.decompress(path.read_bytes()).decode().split()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ContentError(path, None, f"cannot read the word list: {e}") from None


@functools.cache
def english_words() -> frozenset[str]:
    """The bundled English word list as a set, loaded once (``load_english`` keeps the order)."""
    return frozenset(load_english())


def looks_like_words(text: str) -> bool:
    """Whether a short typed name reads as words: one of them English ("sports medicine"), or
    an abbreviation in capitals or with "&" ("PM&R", "ENT"), or written in another script
    ("طب الأطفال": the list is English only). "qwzx vlorp" does not."""
    if any(ch.isalpha() and not ch.isascii() for ch in text):
        return True
    if any(len(part) >= 2 and (part.isupper() or "&" in part) for part in text.split()):
        return True
    return any(word in english_words() for word in tokens(text.lower()) if len(word) >= 3)


class Speller:
    """Repairs words that are neither English nor known to the model; see the module docstring."""

    def __init__(self, english: Sequence[str], vocabulary: Iterable[str]) -> None:
        self._listed = english
        self._english = frozenset(english)
        known = sorted({w for w in vocabulary if w.isalpha()})
        self._known = frozenset(known)
        self._targets = tuple(w for w in known if len(w) >= MIN_FIX_LENGTH - 1)
        self._cache: dict[str, str] = {}

    @functools.cached_property
    def _rank(self) -> dict[str, int]:
        """Frequency rank of each repair target that is English (the rest rank after them):
        worked out at the first repair, not at start."""
        return {w: i for i, w in enumerate(self._listed) if w in self._known}

    def known(self, word: str) -> bool:
        return word in self._known or word in self._english or not word.isalpha()

    def fix(self, words: Sequence[str]) -> list[str]:
        out: list[str] = []
        left = MAX_FIXES
        for w in words:
            if len(w) < MIN_FIX_LENGTH or self.known(w) or left <= 0:
                out.append(w)
                continue
            left -= 1
            out.append(self._fix(w))
        return out

    def _fix(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        limit = 1 if len(word) <= 8 else 2
        near = process.extract(word, self._targets, scorer=DamerauLevenshtein.distance,
                               score_cutoff=limit, limit=8)
        best = min((d for _, d, _ in near), default=None)
        rank = self._rank
        closest = sorted((w for w, d, _ in near if d == best),
                         key=lambda w: (not _dropped_letters(word, w), rank.get(w, len(rank)), w))
        result = closest[0] if closest else word
        if len(self._cache) < 20_000:
            self._cache[word] = result
        return result


def _dropped_letters(typed: str, word: str) -> bool:
    """Whether ``typed`` is ``word`` with some letters left out ("recnt", "recent")."""
    letters = iter(word)
    return len(typed) < len(word) and all(ch in letters for ch in typed)
