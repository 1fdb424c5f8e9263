"""The FAQ classifier at run time: class probabilities and nearest neighbours, in plain numpy.

``bench/faq_train.py`` (``make faq-model``) trains a logistic regression with
scikit-learn on ``content/faq.yaml`` and ``content/faq_examples.yaml`` (each entry's
question, phrasings and example messages labelled with its id, the out-of-scope ones as
one extra class) and writes ``content/faq_model.npz``. scikit-learn is a development
dependency only: the bot loads the stored arrays and computes the same probabilities
``TfidfVectorizer.transform`` and ``LogisticRegression.predict_proba`` give
(``tests/test_faq_model.py`` checks it). Features, as trained:

- word uni- and bigrams of the message's words after typo repair (``flows.faq.words``),
  joined by spaces as ``TfidfVectorizer(token_pattern=r"\\S+", lowercase=False)`` sees
  them (sublinear tf, smooth idf, l2 norm);
- character n-grams inside words of the lower-cased text (``analyzer="char_wb"``), the same;
- the message's wordllama embedding (``flows.faq.embed``) times ``dense_weight``.

The file also holds every training message's embedding with its class, for the nearest
neighbour score (``neighbours``: each class's best cosine similarity).

Character n-grams are looked up without a Python loop over the text: each character
becomes a small integer (its place in the model's alphabet, 0 for a character the model
never saw), each window of n characters one int64 key, and the keys are found in the
model's sorted keys with ``searchsorted``. A window that crosses a word boundary holds
two spaces in a row, which no trained n-gram does, so it simply finds nothing — the
same n-grams sklearn's ``char_wb`` counts.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 2  # bump when the arrays' meaning changes; an unknown format is not loaded
NORM = "l2"
_KEY_BITS = 62  # bits of an int64 key a window of characters may use (sign bit kept clear)

Array = np.ndarray[Any, Any]


class ModelError(ValueError):
    """The model file is missing, unreadable or not one this code understands."""


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes: what the model records of the FAQ it was trained on."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _strings(arrays: Mapping[str, Array], key: str) -> tuple[str, ...]:
    return tuple(str(s) for s in arrays[key].tolist())


def _scalar(arrays: Mapping[str, Array], key: str) -> Any:
    return arrays[key].item()


class FaqModel:
    """Class probabilities for a question; see the module docstring."""

    def __init__(self, arrays: Mapping[str, Array]) -> None:
        try:
            fmt = int(_scalar(arrays, "format"))
            if fmt != FORMAT:
                raise ModelError(f"model format {fmt}, this code reads {FORMAT}")
            if str(_scalar(arrays, "norm")) != NORM or not bool(_scalar(arrays, "sublinear_tf")):
                raise ModelError("model trained with settings this code does not replicate")
            self.faq_sha256 = str(_scalar(arrays, "faq_sha256"))
            self.tokens_sha256 = str(_scalar(arrays, "tokens_sha256"))
            self.classes = _strings(arrays, "classes")
            self.decline = str(_scalar(arrays, "decline"))
            word_vocab = _strings(arrays, "word_vocab")
            char_vocab = arrays["char_vocab"]
            self._word_n = tuple(int(n) for n in arrays["word_ngram"].tolist())
            self._char_n = tuple(int(n) for n in arrays["char_ngram"].tolist())
            word_idf, char_idf = arrays["word_idf"], arrays["char_idf"]
            self._idf = np.concatenate([word_idf, char_idf]).astype(np.float64)
            # (features, classes): a question's rows are one gather. float16 as stored would
            # make every sum convert; float32 holds it exactly (about 2 MB)
            self.dense_weight = float(_scalar(arrays, "dense_weight"))
            dense = arrays["dense_coef"]
            self._dense = np.ascontiguousarray(dense, dtype=np.float32)
            knn = arrays["knn_vectors"]
            self._knn = np.ascontiguousarray(knn, dtype=np.float32)
            self._knn_labels = np.asarray(arrays["knn_labels"], dtype=np.intp)
            coef = arrays["coef"]
            self._coef = np.ascontiguousarray(coef)  # as stored; a question's few rows are widened when read
            self._intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        except ModelError:
            raise
        except KeyError as e:
            raise ModelError(f"model file lacks {e}") from None
        except (ValueError, TypeError) as e:
            raise ModelError(f"model file malformed: {e}") from None
        n_word, n_char = len(word_vocab), len(char_vocab)
        if (
            self._coef.shape != (n_word + n_char, len(self.classes))
            or self._intercept.shape != (len(self.classes),)
            or word_idf.shape != (n_word,)
            or char_idf.shape != (n_char,)
            or self.decline not in self.classes
            or len(self._word_n) != 2
            or len(self._char_n) != 2
            or self._dense.shape[1:] != (len(self.classes),)
            or self._knn.ndim != 2
            or self._knn.shape[1] != self._dense.shape[0]
            or self._knn_labels.shape != (len(self._knn),)
            or (len(self._knn_labels) and not 0 <= self._knn_labels.min() <= self._knn_labels.max() < len(self.classes))
        ):
            raise ModelError("model arrays do not fit together")
        self._n_word = n_word
        self._word_index = dict(zip(word_vocab, range(n_word), strict=True))
        self._init_chars(char_vocab)
        order = np.argsort(self._knn_labels, kind="stable")  # grouped by class: one reduceat
        self._knn, self._knn_labels = self._knn[order], self._knn_labels[order]
        change = np.flatnonzero(np.diff(self._knn_labels)) + 1
        self._knn_starts = np.concatenate([[0], change]).astype(np.intp) if len(order) else change
        self._knn_present = self._knn_labels[self._knn_starts]

    def _init_chars(self, vocab: Array) -> None:
        """Sorted int64 keys of the character n-grams (see the module docstring): a
        leading 1 bit, then each character's code in ``bits`` bits, so n-grams of
        different lengths never share a key. Worked out on the array as stored (code
        points, NUL-padded to the longest n-gram), without a loop over the n-grams."""
        lo, hi = self._char_n
        if vocab.dtype.kind != "U" or vocab.ndim != 1:
            raise ModelError("character vocabulary is not a list of strings")
        width = vocab.dtype.itemsize // 4
        points = np.ascontiguousarray(vocab).view(np.uint32).reshape(len(vocab), width)
        lengths = np.count_nonzero(points, axis=1)
        if len(vocab) and (lengths.min() < lo or lengths.max() > hi):
            raise ModelError("character n-gram outside the stored n-gram range")
        present = np.bincount(points.ravel(), minlength=1)
        present[0] = 0  # the padding
        alphabet = np.flatnonzero(present)  # (np.unique would import numpy.ma: 25 ms at start)
        self._bits = max(1, len(alphabet).bit_length())  # codes 1..len(alphabet); 0: unknown
        if hi * self._bits + 1 > _KEY_BITS:
            raise ModelError("character alphabet too large for int64 keys")
        # code of every code point up to the largest known one; the last slot (0) takes the rest
        self._codes = np.zeros(int(alphabet.max(initial=0)) + 2, dtype=np.int64)
        self._codes[alphabet] = np.arange(1, len(alphabet) + 1)
        keys = np.ones(len(vocab), dtype=np.int64)
        for j in range(width):
            keys = np.where(j < lengths, (keys << self._bits) | self._codes[points[:, j]], keys)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if np.any(keys[1:] == keys[:-1]):
            raise ModelError("repeated character n-gram")
        # a key above every window's, so a search past the last key finds no n-gram
        self._char_keys = np.append(keys, np.int64(1) << _KEY_BITS)
        self._char_cols = np.append(order + self._n_word, -1).astype(np.intp)

    def fits(self, entry_ids: Iterable[str]) -> bool:
        """Whether the classes are exactly these entries and the decline class."""
        ids = list(entry_ids)
        return len(ids) + 1 == len(self.classes) and set(ids) | {self.decline} == set(self.classes)

    @classmethod
    def load(cls, path: Path) -> FaqModel:
        """Read the ``.npz`` written by ``bench/faq_train.py`` (no pickles)."""
        try:
            with path.open("rb") as f, np.load(f, allow_pickle=False) as data:  # the file closes on any error
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ModelError(f"cannot read {path.name}: {e}") from None
        return cls(arrays)

    # -- features ----------------------------------------------------------------------
    def _word_columns(self, tokens: Sequence[str]) -> list[int]:
        """Columns of the word n-grams of ``tokens`` found in the vocabulary, repeats kept."""
        lo, hi = self._word_n
        get = self._word_index.get
        found: list[int] = []
        for n in range(lo, hi + 1):
            grams = tokens if n == 1 else [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
            found.extend(c for g in grams if (c := get(g)) is not None)
        return found

    def _char_columns(self, text: str) -> Array:
        """Columns of the character n-grams inside the words of ``text`` (lower-cased)
        found in the vocabulary, repeats kept."""
        lo, hi = self._char_n
        padded = " " + "  ".join(text.lower().split()) + " "  # each word padded with a space
        points = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        codes = self._codes[np.minimum(points, len(self._codes) - 1)]
        key = codes | (1 << self._bits)  # windows of one character
        windows: list[Array] = [key] if lo == 1 else []
        for n in range(2, hi + 1):
            if len(key) <= 1:
                break
            key = (key[:-1] << self._bits) | codes[n - 1 :]  # one character longer
            if n >= lo:
                windows.append(key)
        if not windows:
            return np.zeros(0, dtype=np.intp)
        flat = np.concatenate(windows)
        at = np.searchsorted(self._char_keys, flat)
        return self._char_cols[at[self._char_keys[at] == flat]]

    def features(self, text: str, tokens: Sequence[str]) -> tuple[Array, Array]:
        """The question's feature vector as (columns, values): per part, sublinear tf
        times idf, l2-normalised, as ``TfidfVectorizer(sublinear_tf=True)`` transforms."""
        words = self._word_columns(tokens)
        cols = self._char_columns(text)
        if words:
            cols = np.concatenate([np.array(words, dtype=np.intp), cols])
        cols, counts = np.unique(cols, return_counts=True)
        values = (1.0 + np.log(counts)) * self._idf[cols]
        split = int(np.searchsorted(cols, self._n_word))  # word columns come first
        for part in (values[:split], values[split:]):
            norm = float(np.sqrt(part @ part))
            if norm > 0.0:
                part /= norm
        return cols, values

    # -- probabilities -----------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self._dense.shape[0])

    def probabilities(self, text: str, tokens: Sequence[str], vector: Array) -> Array:
        """Probability of each class (``self.classes`` order) for a question: ``text`` as
        typed (already cut to the input limit), ``tokens`` its repaired words, ``vector``
        its embedding."""
        cols, values = self.features(text, tokens)
        rows = self._coef[cols].astype(np.float64)
        logits = values @ rows + self._intercept + self.dense_weight * (vector @ self._dense)
        logits -= logits.max()
        np.exp(logits, out=logits)
        return logits / logits.sum()

    def neighbours(self, vector: Array) -> Array:
        """Each class's best cosine similarity between ``vector`` and its training messages
        (0 for a class without one, or when nothing is similar)."""
        return self.neighbours_many(vector[None, :])[0]

    def neighbours_many(self, vectors: Array) -> Array:
        """``neighbours`` for each row of ``vectors``, in one product."""
        best = np.zeros((len(vectors), len(self.classes)), dtype=np.float64)
        if len(self._knn) and len(vectors):
            best[:, self._knn_present] = np.maximum.reduceat(vectors @ self._knn.T, self._knn_starts, axis=1)
        return np.maximum(best, 0.0)
