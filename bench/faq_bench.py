"""Compare FAQ retrieval methods on bench/faq_eval.yaml and report the kept one.

    python -m bench.faq_bench                     # every method, every split
    python -m bench.faq_bench --splits tune dev dev2 dev3 dev4 dev5 dev6 dev7  # development: tuning splits only
    python -m bench.faq_bench --sweep             # parameter grid, TUNING splits only
    python -m bench.faq_bench --misses dev        # the kept method's misses (tuning splits only)

Splits of bench/faq_eval.yaml: ``tune``, ``dev``, ``dev2``, ``dev3``, ``dev4``, ``dev5``, ``dev6`` and ``dev7`` are
the tuning splits (TUNING_SPLITS); ``heldout`` to ``heldout9`` are only ever scored,
never used to pick anything, and their misses cannot be listed from here.

Methods (each sees the same entries and out-of-scope groups; each one's decline
threshold is chosen on the tuning splits only, by maximising the mean of in-scope
top-1 accuracy and out-of-scope declined — the first two keep the thresholds in
flows/faq/matcher.py, chosen the same way):

- ``blend`` (kept, flows/faq/matcher.py with content/faq_model.npz): the matcher below
  blended with a logistic-regression classifier over word n-grams of the canonical
  tokens and character n-grams of the text (flows/faq/model.py, trained by
  bench/faq_train.py): ``MODEL_WEIGHT * p + (1 - MODEL_WEIGHT) * matcher score``.
- ``tfidf+concepts`` (the matcher alone, kept until round 6): TF-IDF cosine over unigrams and
  bigrams of canonical tokens (abbreviation/synonym concepts, light stemming,
  Damerau-Levenshtein typo repair), answer as a down-weighted document, fused
  with a BM25 score over the same tokens (BM25_WEIGHT).
- ``tfidf-plain``: the same scorer with the concept table and typo repair off.
- ``tfidf-chargram``: TF-IDF over words plus character 3-5-grams, plain dicts,
  no concept table (typos handled by the n-grams).
- ``fts5-bm25``: SQLite FTS5 BM25 over the same canonical tokens (concepts and
  typo repair on), best row per entry.
- ``rapidfuzz``: rapidfuzz string similarity of the lower-cased question against
  every phrasing; the scorer (WRatio, token_set_ratio, token_sort_ratio) is
  picked on the tuning splits.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from rapidfuzz import fuzz, process, utils

from flows.faq import matcher as faq
from flows.faq.matcher import Analyzer, FaqEntry, FaqIndex, OutOfScope
from flows.faq.model import FaqModel, file_sha256

EVAL_PATH = Path(__file__).resolve().parent / "faq_eval.yaml"
KEPT = "blend"
MATCHER = "tfidf+concepts"
SPLITS = (
    "tune", "dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7",
    "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6", "heldout7", "heldout8", "heldout9",
)
# the only splits anything is chosen on
TUNING_SPLITS = frozenset({"tune", "dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7"})


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    expected: frozenset[str] | None  # None: should be declined
    split: str


def load_eval(path: Path = EVAL_PATH) -> list[Item]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = []
    for raw in data["items"]:
        exp = raw["expected"]
        if exp is None:
            expected = None
        elif isinstance(exp, list):
            expected = frozenset(exp)
        else:
            expected = frozenset([exp])
        items.append(Item(str(raw["text"]), expected, raw["split"]))
    return items


class Ranker(Protocol):
    def rank(self, text: str) -> tuple[list[tuple[str, float]], float]:
        """Entries best first with scores, and the best out-of-scope score."""


# --------------------------------------------------------------------------- methods


class TfidfRanker:
    def __init__(self, index: FaqIndex) -> None:
        self.index = index

    @classmethod
    def build(
        cls, entries: Sequence[FaqEntry], oos: Sequence[OutOfScope], **kw: Any
    ) -> TfidfRanker:
        return cls(FaqIndex.build(entries, oos, **kw))

    def rank(self, text: str) -> tuple[list[tuple[str, float]], float]:
        best, oos = self.index.scores(text)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(self.index.entries[i].id, s) for i, s in ranked], oos

    def decide(self, ranked: list[tuple[str, float]], oos: float, threshold: float) -> str | None:
        """FaqIndex's own decline rule, with the given threshold."""
        if not ranked:
            return None
        return ranked[0][0] if self.index.accepts(ranked[0][1], oos, threshold) else None


def _chargrams(text: str) -> Counter[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    feats: Counter[str] = Counter()
    for w in words:
        if w in faq.STOP_WORDS:
            continue
        feats["w:" + w] += 1
        padded = f" {w} "
        for n in (3, 4, 5):
            for i in range(len(padded) - n + 1):
                feats[padded[i : i + n]] += 1
    return feats


class CharGramRanker:
    """Words + character 3-5-grams, TF-IDF cosine, plain dicts, no concept table."""

    def __init__(self, entries: Sequence[FaqEntry], oos: Sequence[OutOfScope]) -> None:
        docs: list[tuple[str | None, Counter[str]]] = []
        for e in entries:
            for t in (e.topic, e.question, *e.phrasings):
                docs.append((e.id, _chargrams(t)))
        for o in oos:
            for t in o.phrasings:
                docs.append((None, _chargrams(t)))
        df: Counter[str] = Counter()
        for _, f in docs:
            df.update(f.keys())
        n = len(docs)
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self.unknown = math.log((n + 1) / 0.5)
        self.postings: dict[str, list[tuple[int, float]]] = {}
        self.owner: list[str | None] = []
        for d, (owner, f) in enumerate(docs):
            w = {t: (1 + math.log(c)) * self.idf[t] for t, c in f.items()}
            norm = math.sqrt(sum(x * x for x in w.values())) or 1.0
            for t, x in w.items():
                self.postings.setdefault(t, []).append((d, x / norm))
            self.owner.append(owner)

    def rank(self, text: str) -> tuple[list[tuple[str, float]], float]:
        f = _chargrams(text[: faq.MAX_INPUT])
        acc: dict[int, float] = {}
        norm2 = 0.0
        for t, c in f.items():
            w = (1 + math.log(c)) * self.idf.get(t, self.unknown * 0.35)
            norm2 += w * w
            for d, x in self.postings.get(t, ()):
                acc[d] = acc.get(d, 0.0) + w * x
        if not acc:
            return [], 0.0
        qn = math.sqrt(norm2)
        best: dict[str, float] = {}
        oos = 0.0
        for d, s in acc.items():
            s /= qn
            o = self.owner[d]
            if o is None:
                oos = max(oos, s)
            elif s > best.get(o, 0.0):
                best[o] = s
        return sorted(best.items(), key=lambda kv: -kv[1]), oos


class Fts5Ranker:
    """SQLite FTS5 BM25 over concept-normalised tokens; best row per entry."""

    def __init__(self, entries: Sequence[FaqEntry], oos: Sequence[OutOfScope]) -> None:
        self.an = Analyzer()
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE docs USING fts5(owner UNINDEXED, body)")
        rows: list[tuple[str, str]] = []
        for e in entries:
            for t in (e.topic, e.question, *e.phrasings):
                rows.append((e.id, " ".join(self.an.tokens(t))))
        for o in oos:
            for t in o.phrasings:
                rows.append(("~oos", " ".join(self.an.tokens(t))))
        self.db.executemany("INSERT INTO docs VALUES (?, ?)", rows)
        vocab = {tok for _, body in rows for tok in body.split()}
        self.an.set_vocab(vocab)
        self.vocab = vocab

    def rank(self, text: str) -> tuple[list[tuple[str, float]], float]:
        toks = [t for t in self.an.tokens(text[: faq.MAX_INPUT], fix=True) if t in self.vocab]
        if not toks:
            return [], 0.0
        q = " OR ".join(f'"{t}"' for t in dict.fromkeys(toks))
        best: dict[str, float] = {}
        for owner, score in self.db.execute(
            "SELECT owner, -bm25(docs) FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 60",
            (q,),
        ):
            if score > best.get(owner, 0.0):
                best[owner] = score
        oos = best.pop("~oos", 0.0)
        return sorted(best.items(), key=lambda kv: -kv[1]), oos


class FuzzRanker:
    def __init__(
        self,
        entries: Sequence[FaqEntry],
        oos: Sequence[OutOfScope],
        scorer: Callable[..., float] = fuzz.WRatio,
    ) -> None:
        self.scorer = scorer
        self.choices: list[str] = []
        self.owner: list[str | None] = []
        for e in entries:
            for t in (e.topic, e.question, *e.phrasings):
                self.choices.append(utils.default_process(t))
                self.owner.append(e.id)
        for o in oos:
            for t in o.phrasings:
                self.choices.append(utils.default_process(t))
                self.owner.append(None)

    def rank(self, text: str) -> tuple[list[tuple[str, float]], float]:
        q = utils.default_process(text[: faq.MAX_INPUT])
        if not q.strip():
            return [], 0.0
        best: dict[str, float] = {}
        oos = 0.0
        for _, score, i in process.extract(
            q, self.choices, scorer=self.scorer, processor=None, limit=40
        ):
            owner = self.owner[i]
            s = score / 100.0
            if owner is None:
                oos = max(oos, s)
            elif s > best.get(owner, 0.0):
                best[owner] = s
        return sorted(best.items(), key=lambda kv: -kv[1]), oos


def _blend(entries: Sequence[FaqEntry], oos: Sequence[OutOfScope]) -> TfidfRanker:
    """The matcher with the committed classifier, which must be trained on content/faq.yaml."""
    model = FaqModel.load(faq.MODEL_PATH)
    if model.faq_sha256 != file_sha256(faq.CONTENT_DIR / "faq.yaml"):
        raise SystemExit("content/faq_model.npz was trained on another faq.yaml: run make faq-model")
    return TfidfRanker.build(entries, oos, model=model)


Builder = Callable[[Sequence[FaqEntry], Sequence[OutOfScope]], Ranker]

METHODS: dict[str, Builder] = {
    KEPT: _blend,
    MATCHER: lambda e, o: TfidfRanker.build(e, o),
    "tfidf-plain": lambda e, o: TfidfRanker.build(e, o, analyzer=Analyzer(concepts=False, typos=False)),
    "tfidf-chargram": CharGramRanker,
    "fts5-bm25": Fts5Ranker,
    "rapidfuzz": FuzzRanker,
}
# the two matchers keep the thresholds flows/faq/matcher.py ships with (chosen on the tuning splits)
FIXED_THRESHOLDS = {KEPT: faq.MODEL_THRESHOLD, MATCHER: faq.THRESHOLD}
FUZZ_SCORERS: dict[str, Callable[..., float]] = {
    "WRatio": fuzz.WRatio,
    "token_set_ratio": fuzz.token_set_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
}


# --------------------------------------------------------------------------- evaluation


def decide(ranked: list[tuple[str, float]], oos: float, threshold: float) -> str | None:
    """The generic rule: decline below the threshold or when out-of-scope scores as high."""
    if not ranked:
        return None
    top_id, top = ranked[0]
    if top < threshold or oos >= top:
        return None
    return top_id


Decider = Callable[[list[tuple[str, float]], float, float], "str | None"]


def metrics(
    items: Sequence[Item],
    outputs: Sequence[tuple[list[tuple[str, float]], float]],
    threshold: float,
    decider: Decider = decide,
) -> dict[str, float]:
    n_in = n_oos = correct = wrongly_declined = oos_declined = rank1 = 0
    for item, (ranked, oos) in zip(items, outputs, strict=True):
        got = decider(ranked, oos, threshold)
        if item.expected is None:
            n_oos += 1
            oos_declined += got is None
        else:
            n_in += 1
            correct += got in item.expected
            wrongly_declined += got is None
            rank1 += bool(ranked) and ranked[0][0] in item.expected
    return {
        "n_in_scope": n_in,
        "n_out_of_scope": n_oos,
        "top1": correct / n_in if n_in else float("nan"),
        "rank1_ignoring_threshold": rank1 / n_in if n_in else float("nan"),
        "in_scope_declined": wrongly_declined / n_in if n_in else float("nan"),
        "oos_declined": oos_declined / n_oos if n_oos else float("nan"),
    }


def pick_threshold(
    items: Sequence[Item], outputs: Sequence[Any], decider: Decider = decide
) -> float:
    """Best threshold on the given (tuning) items: mean of top-1 and out-of-scope declined."""
    best_t, best_v = 0.0, -1.0
    scores = sorted({s for ranked, _ in outputs for _, s in ranked[:1]})
    for t in [0.0, *scores]:
        m = metrics(items, outputs, t, decider)
        v = (m["top1"] + m["oos_declined"]) / 2
        if v > best_v + 1e-12:
            best_t, best_v = t, v
    # place the cut half-way to the next score below, not exactly on a tune example
    below = [s for s in scores if s < best_t]
    return (best_t + below[-1]) / 2 if below else best_t


def _timed(ranker: Ranker, items: Sequence[Item], repeats: int) -> tuple[list[Any], list[float]]:
    outputs: list[Any] = []
    per_item: list[list[float]] = [[] for _ in items]
    for r in range(repeats):
        for i, item in enumerate(items):
            t0 = time.perf_counter()
            out = ranker.rank(item.text)
            per_item[i].append((time.perf_counter() - t0) * 1000)
            if r == 0:
                outputs.append(out)
    return outputs, [statistics.median(ts) for ts in per_item]


def _timing(ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0
    return {"median_ms": statistics.median(ordered) if ordered else 0.0, "p99_ms": p99}


def _build(builder: Builder, entries: Any, oos: Any, repeats: int) -> tuple[Ranker, float]:
    times = []
    ranker: Ranker | None = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        ranker = builder(entries, oos)
        times.append((time.perf_counter() - t0) * 1000)
    assert ranker is not None
    return ranker, statistics.median(times)


def _evaluate(
    ranker: Ranker,
    items: Sequence[Item],
    repeats: int,
    threshold: float | None = None,
    splits: Sequence[str] = SPLITS,
) -> dict[str, Any]:
    outputs, ms = _timed(ranker, items, repeats)
    decider: Decider = getattr(ranker, "decide", decide)
    tune_idx = [i for i, it in enumerate(items) if it.split in TUNING_SPLITS]
    if threshold is None:
        threshold = pick_threshold(
            [items[i] for i in tune_idx], [outputs[i] for i in tune_idx], decider
        )
    result: dict[str, Any] = {"threshold": round(threshold, 4)}
    for split in splits:
        idx = [i for i, it in enumerate(items) if it.split == split]
        m = metrics([items[i] for i in idx], [outputs[i] for i in idx], threshold, decider)
        m.update(_timing([ms[i] for i in idx]))
        result[split] = m
    result.update(_timing(ms))
    return result


def cold_start_ms() -> float:
    """Wall time of a fresh interpreter importing flows.faq.matcher and building the default index."""
    code = "import flows.faq.matcher as f; f.default_index().match('how many months of usce')"
    root = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
    return (time.perf_counter() - t0) * 1000


def run(repeats: int = 5, splits: Sequence[str] = SPLITS) -> dict[str, Any]:
    """Evaluate every method; the kept one, and the matcher alone, also through the real
    FaqIndex.match path."""
    items = [it for it in load_eval() if it.split in TUNING_SPLITS or it.split in splits]
    entries = faq.load_faq()
    oos = faq.load_out_of_scope()
    report: dict[str, Any] = {"methods": {}, "kept": KEPT, "n_items": len(items)}
    for name, builder in METHODS.items():
        if name == "rapidfuzz":
            # the scorer is a parameter too: choose it on the tuning splits
            tune = [it for it in items if it.split in TUNING_SPLITS]
            best_name, best_v = "", -1.0
            for sname, scorer in FUZZ_SCORERS.items():
                fr = FuzzRanker(entries, oos, scorer)
                outs = [fr.rank(it.text) for it in tune]
                t = pick_threshold(tune, outs)
                m = metrics(tune, outs, t)
                if (v := (m["top1"] + m["oos_declined"]) / 2) > best_v:
                    best_name, best_v = sname, v
            builder = functools.partial(FuzzRanker, scorer=FUZZ_SCORERS[best_name])
        ranker, build_ms = _build(builder, entries, oos, repeats)
        res = _evaluate(ranker, items, repeats, FIXED_THRESHOLDS.get(name), splits=splits)
        res["build_ms"] = build_ms
        if name == "rapidfuzz":
            res["scorer"] = best_name
        report["methods"][name] = res
    report["kept_match_path"] = _kept_via_match(items, repeats, splits)
    report["matcher_match_path"] = _kept_via_match(items, repeats, splits, _matcher_alone)
    report["cold_start_ms"] = statistics.median(cold_start_ms() for _ in range(3))
    return report


def _matcher_alone() -> FaqIndex:
    """What the bot ran before round 7, and still runs without a current model."""
    return FaqIndex.build(*faq._load(faq.CONTENT_DIR / "faq.yaml"))


def _kept_via_match(
    items: Sequence[Item],
    repeats: int,
    splits: Sequence[str],
    load: Callable[[], FaqIndex] = faq.default_index.__wrapped__,
) -> dict[str, Any]:
    """A method exactly as the bot calls it: ``load`` builds the index from the default
    content (by default the bot's own ``default_index``), then FaqIndex.match per question."""
    times = []
    index: FaqIndex | None = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        index = load()  # the bot's own path: one YAML read, the model file, then build
        times.append((time.perf_counter() - t0) * 1000)
    assert index is not None
    out: dict[str, Any] = {"build_ms_incl_yaml": statistics.median(times)}
    for split in splits:
        sel = [it for it in items if it.split == split]
        ms: list[list[float]] = [[] for _ in sel]
        got: list[str | None] = []
        for r in range(repeats):
            for i, it in enumerate(sel):
                t0 = time.perf_counter()
                m = index.match(it.text)
                ms[i].append((time.perf_counter() - t0) * 1000)
                if r == 0:
                    got.append(m.entry.id if m.entry else None)
        ins = [(it, g) for it, g in zip(sel, got, strict=True) if it.expected is not None]
        outs = [(it, g) for it, g in zip(sel, got, strict=True) if it.expected is None]
        out[split] = {
            "top1": sum(g in it.expected for it, g in ins if it.expected) / len(ins),
            "in_scope_declined": sum(g is None for _, g in ins) / len(ins),
            "oos_declined": sum(g is None for _, g in outs) / len(outs),
            **_timing([statistics.median(t) for t in ms]),
        }
    return out


def misses(split: str = "tune") -> list[str]:
    """Human-readable misses of the kept method on one TUNING split (never a heldout one)."""
    if split not in TUNING_SPLITS:
        raise ValueError(f"misses are only listed for the tuning splits, not {split!r}")
    index = faq.default_index()
    lines = []
    for it in load_eval():
        if it.split != split:
            continue
        m = index.match(it.text)
        got = m.entry.id if m.entry else None
        ok = got is None if it.expected is None else got in it.expected
        if not ok:
            best, oos = index.scores(it.text)
            top = sorted(best.items(), key=lambda kv: -kv[1])[:3]
            tops = ", ".join(f"{index.entries[i].id}={s:.2f}" for i, s in top)
            exp = "-" if it.expected is None else "|".join(sorted(it.expected))
            lines.append(f"{it.text[:70]!r}\n    expected {exp}, got {got}; [{tops}] oos={oos:.2f}")
    return lines


def sweep() -> None:
    """Grid over the matcher's parameters (tfidf+concepts, without the classifier),
    scored on the TUNING splits only.

    For each index built, every out-of-scope margin is tried and its threshold
    picked by ``pick_threshold``; the rows are ranked by the mean of in-scope
    top-1 and out-of-scope declined."""
    items = [it for it in load_eval() if it.split in TUNING_SPLITS]
    entries, oos = faq.load_faq(), faq.load_out_of_scope()
    rows = []
    grid = itertools.product(
        (0.4, 0.6, 0.8),  # centroid_weight
        (0.5, 0.75, 1.0),  # answer_weight
        (0.0, 0.5, 1.0),  # bigram_weight
        (0.0, 0.25, 0.5),  # pair_weight
        (0.0, 0.2, 0.35),  # bm25_weight
    )
    for cw, aw, bw, pw, b25 in grid:
        idx = FaqIndex.build(
            entries, oos, centroid_weight=cw, answer_weight=aw, bigram_weight=bw, pair_weight=pw,
            bm25_weight=b25,
        )
        outs = [TfidfRanker(idx).rank(it.text) for it in items]
        for margin in (0.0, 0.03, 0.05, 0.08, 0.1):

            def decider(
                ranked: list[tuple[str, float]], o: float, t: float, margin: float = margin
            ) -> str | None:
                return ranked[0][0] if ranked and ranked[0][1] >= t and ranked[0][1] - o > margin else None

            t = pick_threshold(items, outs, decider)
            m = metrics(items, outs, t, decider)
            rows.append(((m["top1"] + m["oos_declined"]) / 2, cw, aw, bw, pw, b25, margin, t, m))
    rows.sort(key=lambda r: -r[0])
    for v, cw, aw, bw, pw, b25, margin, t, m in rows[:20]:
        print(
            f"score={v:.3f} centroid_w={cw} answer_w={aw} bigram_w={bw} pair_w={pw} bm25_w={b25} "
            f"oos_margin={margin} thr={t:.3f} top1={m['top1']:.3f} "
            f"oos_declined={m['oos_declined']:.3f}"
        )


def _pct(x: float) -> str:
    return "  n/a" if x != x else f"{100 * x:5.1f}%"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sweep", action="store_true", help="parameter grid on the tuning splits")
    ap.add_argument(
        "--misses", choices=sorted(TUNING_SPLITS), help="list the kept method's misses"
    )
    ap.add_argument(
        "--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to report"
    )
    args = ap.parse_args(argv)
    if args.sweep:
        sweep()
        return
    if args.misses:
        print("\n".join(misses(args.misses)) or "no misses")
        return
    splits = [s for s in SPLITS if s in args.splits]
    rep = run(args.repeats, splits)
    print(f"FAQ matcher bench: {rep['n_items']} questions, repeats={args.repeats}\n")
    head = (
        f"{'method':<16} {'split':<8} {'top-1':>7} {'oos decl':>9} {'in decl':>8} "
        f"{'rank-1':>7} {'med ms':>7} {'p99 ms':>7} {'build ms':>9} {'thr':>6}"
    )
    print(head)
    print("-" * len(head))
    for name, res in rep["methods"].items():
        label = name + (" *" if name == rep["kept"] else "")
        for n, split in enumerate(splits):
            m = res[split]
            row = (
                f"{label if n == 0 else '':<16} {split:<8} {_pct(m['top1']):>7} "
                f"{_pct(m['oos_declined']):>9} {_pct(m['in_scope_declined']):>8} "
                f"{_pct(m['rank1_ignoring_threshold']):>7} {m['median_ms']:7.3f} {m['p99_ms']:7.2f}"
            )
            if n == 0:
                row += f" {res['build_ms']:9.1f} {res['threshold']:6.3f}"
            print(row)
    if "scorer" in rep["methods"].get("rapidfuzz", {}):
        print(f"\nrapidfuzz scorer chosen on the tuning splits: {rep['methods']['rapidfuzz']['scorer']}")
    for title, key in (
        (f"kept: {rep['kept']} (* above)", "kept_match_path"),
        (f"before round 7: {MATCHER}, the matcher alone (no model)", "matcher_match_path"),
    ):
        k = rep[key]
        print(f"\n{title}, via FaqIndex.match on content/faq.yaml:")
        for split in splits:
            m = k[split]
            print(
                f"  {split:<8} top-1 {_pct(m['top1'])}  out-of-scope declined {_pct(m['oos_declined'])}  "
                f"in-scope wrongly declined {_pct(m['in_scope_declined'])}  "
                f"median {m['median_ms']:.3f} ms  p99 {m['p99_ms']:.2f} ms"
            )
        print(f"  index build incl. YAML load: {k['build_ms_incl_yaml']:.1f} ms (median of {args.repeats})")
    print(f"  cold start (new interpreter, import + build + 1 match): {rep['cold_start_ms']:.0f} ms")


if __name__ == "__main__":
    main()
