"""The FAQ evaluation: are the right facts in what the user sees first?

    python -m bench.faq_bench                 # score the tuning split (dev)
    python -m bench.faq_bench --split dev2    # the previous round's clean split, now tuned on too
    python -m bench.faq_bench --split test    # the clean split: score it once, after every choice is made
    python -m bench.faq_bench --select        # choose the retrieval settings on dev
    python -m bench.faq_bench --compare       # each learned score alone vs the blend, on dev

Questions were written by authors who never saw the entries, their phrasings or the entry
list: only the guide and who the users are (``bench/faq_eval/``: ``dev.yaml``, ``dev2.yaml``, ``dev3.yaml``
for tuning — ``dev2`` and ``dev3`` were earlier clean splits, each scored once first — and ``test.yaml`` held out, from
a new author each round). Each item has ``q``, ``scope`` (in / out), ``type`` (simple, typo,
yesno, persona, comparison, compositional, long), ``facts`` (groups of regular expressions:
the shown text must match one alternative of every group) and an optional ``profile`` (the
asker's stored profile). An in-scope item is right when the text shown first (heading, answer
and composed parts, as ``usce-coach ask --json`` gives it) states every fact; an out-of-scope
item is right when it is declined. Times are per question, the whole answer built.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import faq
from flows.base.content import Texts, load_texts, load_yaml
from flows.base.text import to_plain
from flows.faq import index
from flows.faq.render import response_html

EVAL_DIR = Path(__file__).resolve().parent / "faq_eval"
SPLITS = ("dev", "dev2", "dev3", "test")
TUNING = "dev"
TUNING_SPLITS = ("dev", "dev2", "dev3")  # dev2, dev3: earlier clean splits, each scored once, then tuned on
TYPES = ("simple", "typo", "yesno", "persona", "comparison", "compositional", "long")
TODAY = datetime.date(2026, 12, 3)  # the date the questions were written against


@dataclass(frozen=True)
class Item:
    q: str
    in_scope: bool
    type: str
    facts: tuple[tuple[re.Pattern[str], ...], ...]
    profile: dict[str, Any]


def load_split(split: str) -> list[Item]:
    data = load_yaml(EVAL_DIR / f"{split}.yaml")
    items = []
    for node in data:
        facts = tuple(tuple(re.compile(str(p), re.I) for p in group) for group in node.get("facts") or ())
        items.append(Item(str(node["q"]), node["scope"] == "in", str(node.get("type", "simple")), facts,
                          dict(node.get("profile") or {})))
    return items


@dataclass
class Outcome:
    item: Item
    text: str  # what the user sees first (plain)
    declined: bool
    ids: tuple[str, ...]
    seconds: float
    cpu_seconds: float

    @property
    def right(self) -> bool:
        if not self.item.in_scope:
            return self.declined
        return not self.declined and all(any(p.search(self.text) for p in g) for g in self.item.facts)


def shown(texts: Texts, response: faq.Response) -> str:
    """The plain text of the answer; "" for a decline."""
    return to_plain(response_html(texts.fmt, response))


def run_items(idx: faq.FaqIndex, items: Sequence[Item], texts: Texts) -> list[Outcome]:
    out = []
    for it in items:
        t0, c0 = time.perf_counter(), time.thread_time()
        response = faq.respond(idx, it.q, faq.Reader.from_profile(it.profile), TODAY)
        text = shown(texts, response)
        seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
        out.append(Outcome(it, text, not response.parts, response.ids, seconds, cpu))
    return out


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    ins = [o for o in outcomes if o.item.in_scope]
    outs = [o for o in outcomes if not o.item.in_scope]
    ms = sorted(o.seconds * 1000 for o in outcomes)
    cpu = sorted(o.cpu_seconds * 1000 for o in outcomes)
    by_type = {
        t: (sum(o.right for o in ins if o.item.type == t), sum(1 for o in ins if o.item.type == t))
        for t in TYPES if any(o.item.type == t for o in ins)
    }
    return {
        "n": len(outcomes), "n_in": len(ins), "n_out": len(outs),
        "facts_correct": sum(o.right for o in ins) / max(1, len(ins)),
        "oos_declined": sum(o.right for o in outs) / max(1, len(outs)),
        "wrongly_declined": sum(o.declined for o in ins) / max(1, len(ins)),
        "by_type": by_type,
        "median_ms": statistics.median(ms) if ms else 0.0,
        "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else 0.0,
        "cpu_median_ms": statistics.median(cpu) if cpu else 0.0,
        "cpu_p99_ms": cpu[min(len(cpu) - 1, int(0.99 * len(cpu)))] if cpu else 0.0,
    }


def measure_load() -> dict[str, float]:
    """Cold costs in this process: the embedder, then the index with its model (wall and CPU)."""
    from flows.faq.embed import Embedder

    t0, c0 = time.perf_counter(), time.process_time()
    Embedder()
    t1 = time.perf_counter()
    index.load_index()
    t2, c2 = time.perf_counter(), time.process_time()
    return {"embedder_ms": (t1 - t0) * 1000, "index_ms": (t2 - t1) * 1000,
            "load_cpu_ms": (c2 - c0) * 1000, "load_ms": (t2 - t0) * 1000}


def run(split: str = TUNING, repeats: int = 3) -> dict[str, Any]:
    """Figures for ``make bench``: the split's scores and times (best of ``repeats`` runs)."""
    loads = measure_load()
    idx = index.default_index()
    texts = load_texts()
    items = load_split(split)
    runs = [run_items(idx, items, texts) for _ in range(repeats)]
    result = summary(runs[0])
    for key in ("median_ms", "p99_ms", "cpu_median_ms", "cpu_p99_ms"):
        result[key] = min(summary(r)[key] for r in runs)
    result.update(loads, split=split)
    return result


def report_lines(r: dict[str, Any]) -> list[str]:
    by_type = ", ".join(f"{t} {k}/{n}" for t, (k, n) in r["by_type"].items())
    return [
        f"Split `{r['split']}` of `bench/faq_eval/` ({r['n_in']} in scope, {r['n_out']} out of scope; written by"
        " an author who never saw the entries; scored on the facts in the text shown first):",
        "",
        "| facts correct in scope | out of scope declined | wrongly declined | median ms | p99 ms | model load ms |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {r['facts_correct']:.1%} | {r['oos_declined']:.1%} | {r['wrongly_declined']:.1%}"
        f" | {r['median_ms']:.2f} ({r['cpu_median_ms']:.2f} CPU) | {r['p99_ms']:.2f} ({r['cpu_p99_ms']:.2f} CPU)"
        f" | {r['load_ms']:.0f} ({r['load_cpu_ms']:.0f} CPU) |",
        "",
        "Times per question, the whole answer built; wall clock, and in brackets the CPU time of the answering"
        " thread (wall time on a shared machine includes waiting for a core). Load: the embedder, the word list,"
        " the model and the index, before the first question.",
        "",
        f"By type (right / asked): {by_type}. Targets: ≥ 95% facts correct, ≥ 90% declined, < 3% wrongly"
        " declined, median < 3 ms, p99 < 10 ms, model load < 300 ms.",
    ]


# --------------------------------------------------------------------------- selection

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.8)  # the classifier's share beside the nearest neighbour
THRESHOLDS = (0.25, 0.3, 0.35, 0.4)
MARGINS = (-0.2, -0.1, -0.05, 0.0)


def _memoise(idx: faq.FaqIndex) -> None:
    """Each text's embedding, probabilities and neighbours computed once: the grid changes only
    how they are combined and decided on."""
    model = idx.model
    assert model is not None
    query, probabilities, neighbours = idx.query, model.probabilities, model.neighbours
    seen_q: dict[str, faq.Query] = {}
    seen_p: dict[str, Any] = {}
    seen_n: dict[bytes, Any] = {}
    idx.query = lambda text: seen_q[text] if text in seen_q else seen_q.setdefault(text, query(text))  # type: ignore[method-assign]
    model.probabilities = lambda t, w, v: seen_p[t] if t in seen_p else seen_p.setdefault(t, probabilities(t, w, v))  # type: ignore[method-assign,assignment]
    model.neighbours = lambda v: seen_n.setdefault(v.tobytes(), neighbours(v))  # type: ignore[method-assign,assignment]


def select(items: Sequence[Item]) -> None:
    """A grid over the decision settings, scored on ``items`` (the tuning split only)."""
    idx = index.default_index()
    texts = load_texts()
    _memoise(idx)
    rows = []
    grid = itertools.product(WEIGHTS, THRESHOLDS, MARGINS)
    for w, t, m in grid:
        idx.lr_weight, idx.threshold, idx.margin = w, t, m
        s = summary(run_items(idx, items, texts))
        value = (s["facts_correct"] + s["oos_declined"]) / 2 - s["wrongly_declined"]
        rows.append((value, w, t, m, s))
    rows.sort(key=lambda r: -r[0])
    for value, w, t, m, s in rows[:15]:
        print(f"{value:.4f} weight {w} threshold {t} margin {m}: facts {s['facts_correct']:.1%}"
              f" declined {s['oos_declined']:.1%} wrongly declined {s['wrongly_declined']:.1%}")


def compare(items: Sequence[Item]) -> None:
    """Each learned score alone and the blend, each with its own best threshold and margin."""
    idx = index.default_index()
    texts = load_texts()
    _memoise(idx)
    for w in (0.0, 1.0, index.LR_WEIGHT):
        best: tuple[float, float, float, dict[str, Any]] | None = None
        for t, m in itertools.product((0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7), (-0.2, -0.1, 0.0)):
            idx.lr_weight, idx.threshold, idx.margin = w, t, m
            s = summary(run_items(idx, items, texts))
            value = (s["facts_correct"] + s["oos_declined"]) / 2 - s["wrongly_declined"]
            if best is None or value > best[0]:
                best = (value, t, m, s)
        assert best is not None
        _, t, m, s = best
        print(f"weight {w}: threshold {t} margin {m}: facts {s['facts_correct']:.1%} declined {s['oos_declined']:.1%}"
              f" wrongly declined {s['wrongly_declined']:.1%}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=SPLITS, default=TUNING)
    ap.add_argument("--select", action="store_true", help="grid over the decision settings (dev only)")
    ap.add_argument("--misses", action="store_true", help="print the misses (tuning splits only)")
    ap.add_argument("--compare", action="store_true", help="each learned score alone vs the blend (dev only)")
    args = ap.parse_args(argv)
    if args.select:
        select(load_split(TUNING))
        return
    if args.compare:
        compare(load_split(TUNING))
        return
    r = run(args.split, repeats=1)
    print("\n".join(report_lines(r)))
    if args.misses and args.split in TUNING_SPLITS:
        outcomes = run_items(index.default_index(), load_split(args.split), load_texts())
        for o in outcomes:
            if not o.right:
                print(f"\n--- [{o.item.type}{' OUT' if not o.item.in_scope else ''}] {o.item.q[:200]}"
                      f"\n    profile {o.item.profile} ids {o.ids}\n    " + o.text.replace("\n", "\n    "))


if __name__ == "__main__":
    main()
