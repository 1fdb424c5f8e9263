"""Train the FAQ classifier and write content/faq_model.npz (``make faq-model``).

    python -m bench.faq_train

A logistic regression (scikit-learn, a development dependency) over three parts: word uni-
and bigrams of the repaired words, character 3-5-grams inside words (each TF-IDF, sublinear
tf, l2 norm) and the wordllama embedding times ``DENSE_WEIGHT``. Its training messages are
the content alone: each entry's question, phrasings and examples (content/faq_examples.yaml)
labelled with its id; every out-of-scope phrasing and example labelled ``DECLINE``. No
evaluation question is ever a training message. The file also keeps each training message's
embedding and class for the nearest-neighbour score, and the sha256 of the faq.yaml it was
trained on: the bot ignores a model trained on other content. Training is deterministic
(lbfgs from zeros, one thread) and so is the file (fixed zip timestamps).
"""

from __future__ import annotations

import argparse
import io
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

from flows.base.text import MAX_INPUT  # noqa: E402
from flows.faq import model as faq_model  # noqa: E402
from flows.faq import words  # noqa: E402
from flows.faq.embed import Embedder, default_embedder  # noqa: E402
from flows.faq.entries import FAQ_PATH, FaqEntry, OutOfScope, load, load_examples  # noqa: E402
from flows.faq.index import MODEL_PATH, content_speller  # noqa: E402

DECLINE = "__decline__"  # the class of every out-of-scope phrasing
C = 20.0  # inverse regularisation strength
DENSE_WEIGHT = 2.0  # the embedding's scale beside the two TF-IDF parts (each of norm 1)
WORD_NGRAM = (1, 2)
CHAR_NGRAM = (3, 5)
COEF_DTYPE = np.float16  # half the file of float32; probabilities within 1e-3 (tests/test_faq_model.py)
MAX_ITER = 5000
TOKENS_VERSION = "words-1"  # what the word part is made of (flows/faq/words.py)


def training_set(
    entries: Sequence[FaqEntry], out_of_scope: Sequence[OutOfScope], examples: Mapping[str, Sequence[str]]
) -> tuple[list[str], list[str]]:
    """(text, label) of every phrasing and example, cut to the input limit as questions are."""
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
    return texts, labels


class Reading:
    """Training texts as the index reads a question: normalised, repaired, embedded."""

    def __init__(self, speller: words.Speller, embedder: Embedder) -> None:
        self.speller = speller
        self.embedder = embedder

    def __call__(self, texts: Sequence[str]) -> tuple[list[str], list[list[str]], np.ndarray[Any, Any]]:
        norms = [words.normalise(t) for t in texts]
        fixed = [self.speller.fix(words.tokens(n)) for n in norms]
        vectors = self.embedder.embed([" ".join(f) for f in fixed]) if texts else np.zeros((0, 256), np.float32)
        return norms, fixed, vectors


@dataclass
class Trained:
    word: TfidfVectorizer
    char: TfidfVectorizer
    clf: LogisticRegression
    vectors: np.ndarray[Any, Any]
    labels: list[str]
    dense_weight: float
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def transform(self, texts: Sequence[str], token_lists: Sequence[Sequence[str]],
                  vectors: np.ndarray[Any, Any]) -> sp.csr_matrix:
        """sklearn's own feature matrix for questions (normalised texts)."""
        return sp.hstack(
            [self.word.transform([" ".join(t) for t in token_lists]), self.char.transform(list(texts)),
             sp.csr_matrix(vectors * self.dense_weight)],
            format="csr",
        )


def fit(
    entries: Sequence[FaqEntry], out_of_scope: Sequence[OutOfScope], examples: Mapping[str, Sequence[str]],
    reading: Reading, *, c: float = C, dense_weight: float = DENSE_WEIGHT,
) -> Trained:
    t0 = time.perf_counter()
    texts, labels = training_set(entries, out_of_scope, examples)
    norms, fixed, vectors = reading(texts)
    word = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False, ngram_range=WORD_NGRAM,
                           sublinear_tf=True, norm=faq_model.NORM)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAM, sublinear_tf=True, norm=faq_model.NORM)
    x = sp.hstack([word.fit_transform([" ".join(f) for f in fixed]), char.fit_transform(norms),
                   sp.csr_matrix(vectors * dense_weight)], format="csr")
    clf = LogisticRegression(C=c, max_iter=MAX_ITER)
    clf.fit(x, labels)
    return Trained(word, char, clf, vectors, labels, dense_weight, time.perf_counter() - t0,
                   {"C": c, "dense_weight": dense_weight})


def arrays(trained: Trained, faq_sha256: str, coef_dtype: Any = COEF_DTYPE) -> dict[str, np.ndarray[Any, Any]]:
    """What flows/faq/model.py reads: vocabularies in column order, idf, coefficients as
    (features, classes), the embedding's coefficients, intercepts, classes, neighbours."""

    def vocab(v: TfidfVectorizer) -> np.ndarray[Any, Any]:
        return np.array(sorted(v.vocabulary_, key=v.vocabulary_.__getitem__))

    clf = trained.clf
    classes = [str(c) for c in clf.classes_]
    n_sparse = len(trained.word.vocabulary_) + len(trained.char.vocabulary_)
    coef = clf.coef_.T
    position = {c: i for i, c in enumerate(classes)}
    return {
        "format": np.array(faq_model.FORMAT),
        "faq_sha256": np.array(faq_sha256),
        "tokens_sha256": np.array(TOKENS_VERSION),
        "classes": np.array(classes),
        "decline": np.array(DECLINE),
        "word_vocab": vocab(trained.word),
        "word_idf": trained.word.idf_.astype(np.float64),
        "word_ngram": np.array(WORD_NGRAM),
        "char_vocab": vocab(trained.char),
        "char_idf": trained.char.idf_.astype(np.float64),
        "char_ngram": np.array(CHAR_NGRAM),
        "sublinear_tf": np.array(True),
        "norm": np.array(faq_model.NORM),
        "coef": np.ascontiguousarray(coef[:n_sparse].astype(coef_dtype)),
        "dense_coef": np.ascontiguousarray(coef[n_sparse:].astype(np.float32)),
        "dense_weight": np.array(trained.dense_weight),
        "intercept": clf.intercept_.astype(np.float64),
        "knn_vectors": trained.vectors.astype(np.float16),
        "knn_labels": np.array([position[x] for x in trained.labels], dtype=np.int32),
        "train_c": np.array(trained.settings["C"]),
        "sklearn_version": np.array(sklearn.__version__),
    }


def write(path: Path, data: dict[str, np.ndarray[Any, Any]]) -> None:
    """An ``.npz`` with fixed timestamps, so the same arrays give the same bytes. Float arrays
    are stored, not compressed (deflate barely shrinks them, and inflating them was a third of
    the model's load time); the vocabularies are compressed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(data):
            array = np.asarray(data[name])
            npy = io.BytesIO()
            np.lib.format.write_array(npy, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if array.dtype.kind == "f" else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    path.write_bytes(buf.getvalue())


def reading_for(entries: Sequence[FaqEntry], oos: Sequence[OutOfScope]) -> Reading:
    """The same typo repair and embeddings the index uses."""
    return Reading(content_speller(entries, oos), default_embedder())


def build_model(faq_path: Path = FAQ_PATH, **kw: Any) -> tuple[Trained, dict[str, np.ndarray[Any, Any]]]:
    entries, oos = load(faq_path)
    examples = load_examples(faq_path=faq_path)
    trained = fit(entries, oos, examples, reading_for(entries, oos), **kw)
    return trained, arrays(trained, faq_model.file_sha256(faq_path))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    trained, data = build_model()
    write(args.out, data)
    print(
        f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB; {len(data['word_vocab'])} word and"
        f" {len(data['char_vocab'])} character features, {len(data['knn_labels'])} neighbours,"
        f" {len(data['classes'])} classes; C={C:g}; trained in {trained.seconds:.1f} s"
        f" (scikit-learn {sklearn.__version__})"
    )


if __name__ == "__main__":
    main()
