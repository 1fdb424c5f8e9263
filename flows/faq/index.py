"""Retrieval: which entry a message asks about, or that it is not ours to answer.

Each message is normalised, its unknown words repaired (``flows.faq.words``) and embedded
(``flows.faq.embed``). Two learned scores per class (each entry, and "decline"):

- ``p``: the logistic regression of ``flows.faq.model`` over word and character n-grams and
  the embedding;
- ``nn``: the best cosine similarity to one of the class's training messages.

An entry's score is ``LR_WEIGHT * p + (1 - LR_WEIGHT) * nn``, the decline score likewise.
The best entry is answered when its score is at least ``THRESHOLD`` and beats the decline
score by more than ``MARGIN``. Both settings and the weight were chosen on the tuning
questions only (``python -m bench.faq_eval --select``; docs/FAQ_METHOD.md). Without a
current model file, the nearest neighbours over the entries' own phrasings answer alone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flows.base.content import CONTENT_DIR
from flows.base.text import MAX_INPUT
from flows.faq import words
from flows.faq.embed import Embedder, default_embedder
from flows.faq.entries import FAQ, FaqEntry, OutOfScope, load
from flows.faq.model import FaqModel, ModelError, file_sha256

log = logging.getLogger(__name__)

MODEL_PATH = CONTENT_DIR / "faq_model.npz"
LR_WEIGHT = 0.4  # the classifier's share of a class's score; the rest is the nearest neighbour's
THRESHOLD = 0.3  # answer from this score on
MARGIN = -0.1  # and only when the best entry scores more than the decline score plus this
FALLBACK_THRESHOLD = 0.6  # nearest neighbours alone (no model file): cosine similarity

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class Query:
    text: str  # normalised, cut to the input limit
    words: tuple[str, ...]  # after typo repair
    vector: Array


@dataclass(frozen=True, slots=True)
class Match:
    entry: FaqEntry | None  # None when declined
    confidence: float  # 0..1: the best entry's score
    candidates: tuple[tuple[FaqEntry, float], ...]  # best 3
    decline: float = 0.0  # the decline score

    @property
    def matched(self) -> bool:
        return self.entry is not None


def content_speller(
    entries: Sequence[FaqEntry], out_of_scope: Sequence[OutOfScope], english: Sequence[str] | None = None
) -> words.Speller:
    """Typo repair towards the content's own words (the model's vocabulary)."""
    vocab: set[str] = set()
    for e in entries:
        for text in (e.topic, e.question, e.answer, *e.phrasings):
            vocab.update(words.tokens(words.normalise(text)))
    for o in out_of_scope:
        for text in o.phrasings:
            vocab.update(words.tokens(words.normalise(text)))
    return words.Speller(english if english is not None else words.load_english(), vocab)


class FaqIndex:
    """Scores messages against the entries; see the module docstring."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        out_of_scope: Sequence[OutOfScope] = (),
        *,
        model: FaqModel | None = None,
        embedder: Embedder | None = None,
        english: Sequence[str] | None = None,
        lr_weight: float = LR_WEIGHT,
        threshold: float | None = None,
        margin: float = MARGIN,
    ) -> None:
        self.entries = tuple(entries)
        if not self.entries:
            raise ValueError("FaqIndex needs at least one entry")
        if model is not None and not model.fits(e.id for e in self.entries):
            raise ValueError("the FAQ model's classes are not these entries")
        self.model = model
        self.embedder = embedder or default_embedder()
        self._by_id = {e.id: e for e in self.entries}
        self._sides: dict[str, Array] = {}  # an entry's "against" and "recommended" sides, embedded when first asked
        self.lr_weight = lr_weight
        self.threshold = threshold if threshold is not None else (THRESHOLD if model else FALLBACK_THRESHOLD)
        self.margin = margin
        self.speller = content_speller(self.entries, out_of_scope, english)
        if model is not None:
            self._cols = np.array([model.classes.index(e.id) for e in self.entries], dtype=np.intp)
            self._decline = model.classes.index(model.decline)
        else:  # nearest neighbours over the phrasings, embedded now
            texts: list[str] = []
            owners: list[int] = []
            for i, e in enumerate(self.entries):
                for text in (e.question, *e.phrasings):
                    texts.append(self._repaired(text))
                    owners.append(i)
            for text in (p for o in out_of_scope for p in o.phrasings):
                texts.append(self._repaired(text))
                owners.append(len(self.entries))
            self._fallback = (self.embedder.embed(texts), np.array(owners, dtype=np.intp))

    def get(self, entry_id: str) -> FaqEntry:
        return self._by_id[entry_id]

    def asks_against(self, entry: FaqEntry, text: str) -> bool:
        """Whether a yes/no question about ``entry`` is nearer in meaning to what it advises
        against (``entry.against.when``) than to what it recommends (``against.instead``, or its
        answer's opening line)."""
        if entry.against is None:
            return False
        sides = self._sides.get(entry.id)
        if sides is None:
            recommended = entry.against.instead or entry.answer.split("\n", 1)[0]
            sides = self._sides[entry.id] = self.embedder.embed(
                [self._repaired(entry.against.when), self._repaired(recommended)])
        asked = self.query(text).vector
        against, recommended_side = sides @ asked
        return bool(against > recommended_side)

    def _repaired(self, text: str) -> str:
        return " ".join(self.speller.fix(words.tokens(words.normalise(text))))

    def query(self, text: str) -> Query:
        return self.queries([text])[0]

    def queries(self, texts: Sequence[str]) -> list[Query]:
        """Each text normalised, repaired and embedded (the embeddings in one call)."""
        norms = [words.normalise(t[:MAX_INPUT] if isinstance(t, str) else "") for t in texts]
        fixed = [tuple(self.speller.fix(words.tokens(n))) for n in norms]
        vectors = self.embedder.embed([" ".join(f) for f in fixed])
        return [Query(n, f, v) for n, f, v in zip(norms, fixed, vectors, strict=True)]

    def scores(self, query: Query, nn: Array | None = None) -> tuple[Array, float]:
        """Every entry's score (entry order) and the decline score; ``nn``: the query's
        neighbour scores, when already worked out."""
        if not query.words:
            return np.zeros(len(self.entries)), 1.0
        if self.model is None:
            vectors, owners = self._fallback
            best = np.zeros(len(self.entries) + 1)
            np.maximum.at(best, owners, vectors @ query.vector)
            return best[:-1], float(best[-1])
        p = self.model.probabilities(query.text, query.words, query.vector)
        if nn is None:
            nn = self.model.neighbours(query.vector)
        w = self.lr_weight
        both = w * p + (1 - w) * nn
        return both[self._cols], float(both[self._decline])

    def accepts(self, top: float, decline: float) -> bool:
        return top >= self.threshold and top - decline > self.margin

    def match(self, text: str | Query) -> Match:
        return self._decide(*self.scores(text if isinstance(text, Query) else self.query(text)))

    def match_many(self, texts: Sequence[str]) -> dict[str, Match]:
        """``match`` for several readings of one message, embedded and compared at once."""
        unique = list(dict.fromkeys(texts))
        queries = self.queries(unique)
        nns: list[Array | None] = [None] * len(queries)
        if self.model is not None and queries:
            nns = list(self.model.neighbours_many(np.stack([q.vector for q in queries])))
        return {t: self._decide(*self.scores(q, nn)) for t, q, nn in zip(unique, queries, nns, strict=True)}

    def _decide(self, scores: Array, decline: float) -> Match:
        order = np.argsort(-scores, kind="stable")[:3].tolist()
        cands = tuple((self.entries[i], float(min(1.0, max(0.0, scores[i])))) for i in order)
        top = cands[0][1]
        ok = self.accepts(float(scores[order[0]]), decline)
        return Match(cands[0][0] if ok else None, top, cands, decline)


def load_index(path: Path | None = None, model_path: Path | None = None) -> FaqIndex:
    """The index of a FAQ file (by default the FAQ loaded at start), with the classifier when its
    model (by default the one beside that file) was trained on exactly this file. A missing,
    unreadable or stale model is logged once and the nearest neighbours answer alone: a content
    edit without ``make faq-model`` costs accuracy, never the bot."""
    entries, oos = load(path) if path else FAQ.value()
    path = path or FAQ.source
    model_path = model_path or path.parent / MODEL_PATH.name
    model: FaqModel | None = None
    try:
        model = FaqModel.load(model_path)
    except ModelError as e:
        log.warning("FAQ classifier off, nearest neighbours alone (run make faq-model): %s", e)
    else:
        if model.faq_sha256 != file_sha256(path):
            log.warning("FAQ classifier off, nearest neighbours alone (run make faq-model): %s was trained"
                        " on another %s", model_path.name, path.name)
            model = None
        elif not model.fits(e.id for e in entries):
            log.warning("FAQ classifier off, nearest neighbours alone (run make faq-model): its classes are"
                        " not the entries of %s", path.name)
            model = None
    return FaqIndex(entries, oos, model=model)


@functools.cache
def default_index() -> FaqIndex:
    """The project's FAQ index, built once per process. BLAS is held to one thread: a question's
    products are far too small to gain from more, and on a busy machine waking idle threads
    is what makes the slow answers slow."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return load_index()
