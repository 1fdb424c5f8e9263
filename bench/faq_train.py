"""Train the FAQ classifier and write content/faq_model.npz.

    python -m bench.faq_train            # train with the kept settings and write the model (make faq-model)
    python -m bench.faq_train --select   # choose C, blend weight, margin and threshold on the tuning splits

The classifier is a logistic regression (scikit-learn, a development dependency) over
two TF-IDF parts: word uni- and bigrams of the matcher's canonical tokens and character
3-5-grams inside words of the lower-cased text. Each entry's question, phrasings and
examples (content/faq_examples.yaml: messages as users write them, short and long) are
labelled with its id; every out-of-scope phrasing and example is labelled ``DECLINE``; then
come the tuning splits' questions of bench/faq_eval.yaml with their expected ids
(``TRAIN_ON_TUNING``; a held-out question never). Only the arrays the bot needs are written
(``flows/faq/model.py`` computes the probabilities in numpy), with the sha256 of the
faq.yaml they were trained from: the bot ignores a model trained on other content.
Training is deterministic (lbfgs from zeros, one thread) and so is the file (fixed zip
timestamps), so unchanged training data gives an unchanged file.

``--select`` is how the settings in ``flows/faq/matcher.py`` (``MODEL_WEIGHT``,
``MODEL_THRESHOLD``, ``MODEL_MARGIN``) and ``C`` below were chosen: on the tuning splits
only (``bench.faq_bench.TUNING_SPLITS``; every other split is dropped right after
loading), each configuration is scored leave-one-split-out (settings picked on all but
one split, scored on that one) and pooled (picked on all of them: what ships).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the machine is shared: one thread, and the same sums every run

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import sklearn  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from bench.faq_bench import SPLITS, TUNING_SPLITS, Item, load_eval  # noqa: E402
from flows.base.content import CONTENT_DIR  # noqa: E402
from flows.base.text import MAX_INPUT  # noqa: E402
from flows.faq import matcher as faq  # noqa: E402
from flows.faq import model as faq_model  # noqa: E402
from flows.faq.matcher import Analyzer, FaqEntry, OutOfScope  # noqa: E402

FAQ_PATH = CONTENT_DIR / "faq.yaml"
MODEL_PATH = CONTENT_DIR / "faq_model.npz"
DECLINE = "__decline__"  # the class of every out-of-scope phrasing
C = 30.0  # inverse regularisation strength, chosen by --select
WORD_NGRAM = (1, 2)
CHAR_NGRAM = (3, 5)
MIN_DF_WORD = 1
MIN_DF_CHAR = 1  # every character n-gram kept (min_df 2 lost to 1 once the long examples came in); chosen by --select
COEF_DTYPE = np.float16  # half the file of float32; probabilities within 1e-3 (tests/test_faq_model.py)
MAX_ITER = 5000
TRAIN_ON_TUNING = True  # the tuning splits' questions are training data too; chosen by --select


# --------------------------------------------------------------------------- training


def tuning_items() -> list[Item]:
    """The tuning splits of the evaluation set (bench/faq_eval.yaml); never a held-out one."""
    return [it for it in load_eval() if it.split in TUNING_SPLITS]


def item_pairs(items: Sequence[Item]) -> list[tuple[str, str]]:
    """(text, label) of evaluation questions: an in-scope one once per acceptable entry,
    an out-of-scope one as DECLINE."""
    return [(it.text, label) for it in items for label in (sorted(it.expected) if it.expected else (DECLINE,))]


def training_set(
    entries: Sequence[FaqEntry],
    out_of_scope: Sequence[OutOfScope],
    examples: Mapping[str, Sequence[str]] | None = None,
    extra: Sequence[tuple[str, str]] | None = None,
) -> tuple[list[str], list[str]]:
    """(text, label) of every phrasing and example: an entry's question, phrasings and
    examples (content/faq_examples.yaml, read when ``examples`` is None) carry its id, an
    out-of-scope group's carry DECLINE; then ``extra`` pairs (the tuning splits' questions
    when None and TRAIN_ON_TUNING). Cut to the input limit, as questions are."""
    if examples is None:
        examples = faq.load_examples()
    if extra is None:
        extra = item_pairs(tuning_items()) if TRAIN_ON_TUNING else []
    texts: list[str] = []
    labels: list[str] = []
    for e in entries:
        for t in (e.question, *e.phrasings, *examples.get(e.id, ())):
            texts.append(t[:MAX_INPUT])
            labels.append(e.id)
    for o in out_of_scope:
        for t in (*o.phrasings, *examples.get(o.id, ())):
            texts.append(t[:MAX_INPUT])
            labels.append(DECLINE)
    for t, label in extra:
        texts.append(t[:MAX_INPUT])
        labels.append(label)
    return texts, labels


def token_docs(texts: Sequence[str], analyzer: Analyzer | None = None) -> list[str]:
    """Each training text as canonical tokens joined by spaces (no typo repair: the
    phrasings are the vocabulary)."""
    analyzer = analyzer or Analyzer()
    return [" ".join(analyzer.tokens(t)) for t in texts]


def tokens_sha256(docs: Sequence[str]) -> str:
    """Fingerprint of the analyzed training texts: a test compares it with the current
    analyzer, so a change to the concept table asks for a new model."""
    return hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()


@dataclass
class Trained:
    word: TfidfVectorizer
    char: TfidfVectorizer
    clf: LogisticRegression
    tokens_sha256: str
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def transform(self, texts: Sequence[str], token_lists: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """sklearn's own feature matrix for questions (texts cut to the input limit)."""
        return sp.hstack(
            [self.word.transform([" ".join(t) for t in token_lists]), self.char.transform(list(texts))],
            format="csr",
        )


def fit(
    entries: Sequence[FaqEntry],
    out_of_scope: Sequence[OutOfScope],
    *,
    c: float = C,
    min_df_word: int = MIN_DF_WORD,
    min_df_char: int = MIN_DF_CHAR,
    extra: Sequence[tuple[str, str]] | None = None,
) -> Trained:
    t0 = time.perf_counter()
    texts, labels = training_set(entries, out_of_scope, extra=extra)
    docs = token_docs(texts)
    word = TfidfVectorizer(
        analyzer="word", token_pattern=r"\S+", lowercase=False, ngram_range=WORD_NGRAM,
        sublinear_tf=True, norm=faq_model.NORM, min_df=min_df_word,
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=CHAR_NGRAM, sublinear_tf=True, norm=faq_model.NORM,
        min_df=min_df_char,
    )
    x = sp.hstack([word.fit_transform(docs), char.fit_transform(texts)], format="csr")
    clf = LogisticRegression(C=c, max_iter=MAX_ITER)
    clf.fit(x, labels)
    settings = {"C": c, "min_df_word": min_df_word, "min_df_char": min_df_char}
    return Trained(word, char, clf, tokens_sha256(docs), time.perf_counter() - t0, settings)


def arrays(trained: Trained, faq_sha256: str, coef_dtype: Any = COEF_DTYPE) -> dict[str, np.ndarray[Any, Any]]:
    """What flows/faq/model.py reads: vocabularies in column order, idf, coefficients as
    (features, classes) so a question's rows are one gather, intercepts, classes, settings."""

    def vocab(v: TfidfVectorizer) -> np.ndarray[Any, Any]:
        return np.array(sorted(v.vocabulary_, key=v.vocabulary_.__getitem__))

    clf = trained.clf
    return {
        "format": np.array(faq_model.FORMAT),
        "faq_sha256": np.array(faq_sha256),
        "tokens_sha256": np.array(trained.tokens_sha256),
        "classes": np.array([str(c) for c in clf.classes_]),
        "decline": np.array(DECLINE),
        "word_vocab": vocab(trained.word),
        "word_idf": trained.word.idf_.astype(np.float64),
        "word_ngram": np.array(WORD_NGRAM),
        "char_vocab": vocab(trained.char),
        "char_idf": trained.char.idf_.astype(np.float64),
        "char_ngram": np.array(CHAR_NGRAM),
        "sublinear_tf": np.array(True),
        "norm": np.array(faq_model.NORM),
        "coef": np.ascontiguousarray(clf.coef_.T.astype(coef_dtype)),
        "intercept": clf.intercept_.astype(np.float64),
        "train_c": np.array(trained.settings["C"]),
        "train_min_df": np.array([trained.settings["min_df_word"], trained.settings["min_df_char"]]),
        "sklearn_version": np.array(sklearn.__version__),
    }


def write(path: Path, data: dict[str, np.ndarray[Any, Any]]) -> None:
    """An ``.npz`` (a zip of ``.npy`` files, as ``np.savez_compressed`` writes) with fixed
    timestamps, so the same arrays give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(data):
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.asarray(data[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    path.write_bytes(buf.getvalue())


def build_model(faq_path: Path = FAQ_PATH, **kw: Any) -> tuple[Trained, dict[str, np.ndarray[Any, Any]]]:
    entries, oos = faq.load_faq(faq_path), faq.load_out_of_scope(faq_path)
    trained = fit(entries, oos, **kw)
    return trained, arrays(trained, faq_model.file_sha256(faq_path))


# --------------------------------------------------------------------------- selection


@dataclass
class Config:
    """One blend configuration's outputs on the tuning items."""

    params: dict[str, Any]
    top: np.ndarray[Any, Any]  # chosen entry per item
    score: np.ndarray[Any, Any]  # its blended score (the threshold applies to it)
    veto: np.ndarray[Any, Any]  # declined whatever the threshold (out of scope within the margin)


class Selection:
    """Tuning items, the matcher's scores on them, and the scoring/selection rules."""

    def __init__(self) -> None:
        self.items = tuning_items()  # nothing else is kept
        self.splits = [s for s in SPLITS if s in TUNING_SPLITS]
        assert set(self.splits) == set(TUNING_SPLITS)
        self.entries, self.oos = faq.load_faq(), faq.load_out_of_scope()
        self.index = faq.FaqIndex.build(self.entries, self.oos)  # the matcher alone
        ids = {e.id: i for i, e in enumerate(self.entries)}
        n, e = len(self.items), len(self.entries)
        self.split = np.array([it.split for it in self.items])
        self.in_scope = np.array([it.expected is not None for it in self.items])
        self.expected = np.zeros((n, e), dtype=bool)
        for i, it in enumerate(self.items):
            for x in it.expected or ():
                self.expected[i, ids[x]] = True
        self.texts = [it.text[:MAX_INPUT] for it in self.items]
        self.tokens = [self.index.analyzer.tokens(t, fix=True) for t in self.texts]
        self.matcher = np.zeros((n, e))
        self.matcher_oos = np.zeros(n)
        matched = np.full(n, -1)
        for i, it in enumerate(self.items):
            best, oos = self.index.scores(it.text)
            for j, s in best.items():
                self.matcher[i, j] = s
            self.matcher_oos[i] = oos
            m = self.index.match(it.text)
            if m.entry is not None:
                matched[i] = ids[m.entry.id]
        self.baseline = Config({"method": "matcher"}, np.maximum(matched, 0), (matched >= 0).astype(float),
                               matched < 0)

    def probabilities(self, model: faq_model.FaqModel) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(items x entries) probabilities in entry order, and the decline class's."""
        cols = [model.classes.index(e.id) for e in self.entries]
        p = np.array([model.probabilities(t, tk) for t, tk in zip(self.texts, self.tokens, strict=True)])
        return p[:, cols], p[:, model.classes.index(model.decline)]

    def right(self, c: Config, t: float) -> np.ndarray[Any, Any]:
        """Per item: the expected entry answered, or an out-of-scope question declined."""
        accepted = (c.score >= t) & ~c.veto
        hit = accepted & self.expected[np.arange(len(self.items)), c.top]
        return np.where(self.in_scope, hit, ~accepted)

    def metrics(self, c: Config, t: float, mask: np.ndarray[Any, Any]) -> dict[str, float]:
        accepted = (c.score >= t) & ~c.veto
        right = self.right(c, t)
        ins, outs = mask & self.in_scope, mask & ~self.in_scope
        return {
            "top1": right[ins].mean(), "oos_declined": right[outs].mean(),
            "in_declined": (~accepted[ins]).mean(),
        }

    def pick(self, c: Config, mask: np.ndarray[Any, Any]) -> tuple[float, float]:
        """Threshold maximising the mean of in-scope top-1 and out-of-scope declined on
        ``mask`` (the lowest of equal ones), placed half-way to the next score below."""
        ins, outs = mask & self.in_scope, mask & ~self.in_scope
        live = ~c.veto
        hit = live & self.expected[np.arange(len(self.items)), c.top]
        scores = np.unique(c.score[mask])
        cands = np.concatenate([[-np.inf], scores])
        hits = np.sort(c.score[ins & hit])
        answered_oos = np.sort(c.score[outs & live])
        n_hit = len(hits) - np.searchsorted(hits, cands, side="left")
        n_oos = len(answered_oos) - np.searchsorted(answered_oos, cands, side="left")
        value = (n_hit / ins.sum() + 1 - n_oos / outs.sum()) / 2
        k = int(np.argmax(value > value.max() - 1e-12))
        below = scores[scores < cands[k]]
        t = (cands[k] + below[-1]) / 2 if len(below) else cands[k]
        return (float(t) if np.isfinite(t) else -math.inf), float(value[k])

    def select(self, configs: Sequence[Config], mask: np.ndarray[Any, Any]) -> tuple[Config, float]:
        """The configuration (first of equals, in grid order) and threshold best on ``mask``."""
        best: tuple[Config, float, float] | None = None
        for c in configs:
            t, v = self.pick(c, mask)
            if best is None or v > best[2] + 1e-12:
                best = (c, t, v)
        assert best is not None
        return best[0], best[1]


def _paired(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> str:
    """Items a gets right and b wrong, the reverse, and the exact two-sided sign-test p."""
    up, down = int((a & ~b).sum()), int((~a & b).sum())
    n = up + down
    tail = sum(math.comb(n, k) for k in range(min(up, down) + 1)) / 2**n if n else 1.0
    return f"{up} vs {down}, p={min(1.0, 2 * tail):.3f}"


def select(c_grid: Sequence[float], min_df_grid: Sequence[int], weights: Sequence[float],
           margins: Sequence[float], sources: Sequence[str]) -> None:
    """``sources``: "content" trains on faq.yaml and faq_examples.yaml alone; "content+tuning"
    adds the tuning splits' questions, out of fold: a split's probabilities come from a model
    trained without that split, so no tuning question is scored by a model that saw it."""
    sel = Selection()
    print(f"{len(sel.items)} tuning questions; matcher scored.", flush=True)
    configs: list[Config] = []
    for source in sources:
        for min_df in min_df_grid:
            for c in c_grid:
                p = np.zeros_like(sel.matcher)
                p_oos = np.zeros(len(sel.items))
                folds = sel.splits if source == "content+tuning" else [None]
                seconds = 0.0
                for held in folds:
                    keep = [it for it in sel.items if it.split != held] if held else []
                    trained = fit(sel.entries, sel.oos, c=c, min_df_char=min_df, extra=item_pairs(keep))
                    seconds += trained.seconds
                    fold_p, fold_oos = sel.probabilities(faq_model.FaqModel(arrays(trained, "selection")))
                    fold = sel.split == held if held else np.ones(len(sel.items), dtype=bool)
                    p[fold], p_oos[fold] = fold_p[fold], fold_oos[fold]
                print(f"  {source} C={c:g} min_df_char={min_df}: {len(folds)} model(s) trained in {seconds:.1f} s",
                      flush=True)
                for w in weights:
                    blended = w * p + (1 - w) * sel.matcher
                    top = blended.argmax(axis=1)
                    score = blended.max(axis=1)
                    oos = w * p_oos + (1 - w) * sel.matcher_oos
                    for margin in margins:
                        params = {"source": source, "C": c, "min_df_char": min_df, "weight": w, "margin": margin}
                        configs.append(Config(params, top, score, score - oos <= margin))
    everything = np.ones(len(sel.items), dtype=bool)
    rows: dict[str, dict[str, dict[str, float]]] = {"matcher": {}, "blend, leave-one-split-out": {},
                                                    "blend, picked on all": {}}
    loso_right = np.zeros(len(sel.items), dtype=bool)
    print("\nleave-one-split-out picks (settings chosen on the other tuning splits):")
    for s in sel.splits:
        mask = sel.split == s
        picked, t = sel.select(configs, ~mask)
        rows["blend, leave-one-split-out"][s] = sel.metrics(picked, t, mask)
        loso_right[mask] = sel.right(picked, t)[mask]
        print(f"  {s:<5} {picked.params} threshold {t:.4f}")
    if len(sources) > 1:  # each source alone, so the two can be compared out of fold
        for source in sources:
            own = [c for c in configs if c.params["source"] == source]
            row = rows[f"  {source} alone, LOSO"] = {}
            for s in sel.splits:
                mask = sel.split == s
                picked, t = sel.select(own, ~mask)
                row[s] = sel.metrics(picked, t, mask)
    pooled, t_pooled = sel.select(configs, everything)
    base_right = sel.right(sel.baseline, 0.5)
    pooled_right = sel.right(pooled, t_pooled)
    for s in sel.splits:
        mask = sel.split == s
        rows["matcher"][s] = sel.metrics(sel.baseline, 0.5, mask)
        rows["blend, picked on all"][s] = sel.metrics(pooled, t_pooled, mask)
    print(f"\npicked on all tuning splits (ships): {pooled.params} threshold {t_pooled:.4f}")
    kept = sel.right(pooled, t_pooled) & sel.in_scope
    if kept.any():  # a higher threshold declines more filler; this is as high as it goes for free
        lowest = float(pooled.score[kept].min())
        below = pooled.score[pooled.score < lowest]
        free = (lowest + below.max()) / 2 if len(below) else lowest
        print(f"highest threshold that costs no tuning question: {free:.4f} (lowest right answer {lowest:.4f})")
    print("\ncells: top-1 / out-of-scope declined / in scope wrongly declined (%)")
    print(f"{'':<28}" + "".join(f"{s:>20}" for s in sel.splits))
    for name, per in rows.items():
        cells = "".join(
            f"{100 * m['top1']:>8.1f}/{100 * m['oos_declined']:5.1f}/{100 * m['in_declined']:4.1f}"
            for m in per.values()
        )
        print(f"{name:<28}{cells}")
    print("\npaired against the matcher (questions the blend gets right and the matcher wrong, the reverse):")
    for s in sel.splits:
        mask = sel.split == s
        print(f"  {s:<5} leave-one-split-out {_paired(loso_right[mask], base_right[mask]):<22}"
              f" picked on all {_paired(pooled_right[mask], base_right[mask])}")
    print(f"  all   leave-one-split-out {_paired(loso_right, base_right):<22}"
          f" picked on all {_paired(pooled_right, base_right)}")
    print("\nnext best on all (value = mean of top-1 and declined, pooled):")
    ranked = sorted(((sel.pick(c, everything)[1], i) for i, c in enumerate(configs)), key=lambda r: (-r[0], r[1]))
    for v, i in ranked[:12]:
        print(f"  {v:.4f} {configs[i].params} threshold {sel.pick(configs[i], everything)[0]:.4f}")


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--select", action="store_true", help="choose the settings on the tuning splits")
    ap.add_argument("--c", type=float, nargs="+", default=[10.0, 30.0, 100.0, 300.0])
    ap.add_argument("--min-df-char", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.1, 0.2, 0.35, 0.5, 0.65, 0.8])
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.03, 0.05, 0.08])
    ap.add_argument("--sources", nargs="+", choices=["content", "content+tuning"],
                    default=["content", "content+tuning"])
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    if args.select:
        select(args.c, args.min_df_char, args.weights, args.margins, args.sources)
        return
    trained, data = build_model()
    write(args.out, data)
    print(
        f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB; {len(data['word_vocab'])} word and"
        f" {len(data['char_vocab'])} character features, {len(data['classes'])} classes; C={C:g};"
        f" trained in {trained.seconds:.1f} s (scikit-learn {sklearn.__version__})"
    )


if __name__ == "__main__":
    main()
