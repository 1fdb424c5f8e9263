"""The FAQ classifier: numpy gives sklearn's probabilities, the committed model is current,
and the matcher answers alone when the model is missing or stale."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import faq_train
from bench.faq_bench import TUNING_SPLITS, load_eval
from flows.base.text import MAX_INPUT
from flows.faq import matcher as faq
from flows.faq.matcher import FaqIndex, default_index, load_faq, load_index, load_out_of_scope
from flows.faq.model import FaqModel, ModelError, file_sha256

FAQ = faq.CONTENT_DIR / "faq.yaml"
STALE = "run make faq-model"
# float16 keeps 11 significant bits: each coefficient within 2**-11 of its own size
COEF_RTOL = 2.0**-11
ODD = ["", "   ", "😂🙏🔥", "x" * 4096, "usce " * 900, "a b c", "İstanbul ÉCOLE naïve", "tab\tsep\u00a0nbsp\x1cfs",
       "LoR?!", "obsv obsv obsv", "ﬁle ligature", "\ud800 lone surrogate"]


@pytest.fixture(scope="module")
def trained() -> tuple[faq_train.Trained, dict[str, Any]]:
    return faq_train.build_model()


@pytest.fixture(scope="module")
def questions() -> tuple[list[str], list[list[str]]]:
    """Every tuning-split question (cut to the input limit, as the index cuts it) with the
    canonical tokens the index gives the classifier, plus some odd inputs."""
    analyzer = default_index().analyzer
    texts = [it.text[:MAX_INPUT] for it in load_eval() if it.split in TUNING_SPLITS] + [t[:MAX_INPUT] for t in ODD]
    return texts, [analyzer.tokens(t, fix=True) for t in texts]


def _ours(model: FaqModel, questions: tuple[list[str], list[list[str]]]) -> np.ndarray[Any, Any]:
    return np.array([model.probabilities(t, k) for t, k in zip(*questions, strict=True)])


def test_numpy_probabilities_are_sklearns(
    trained: tuple[faq_train.Trained, dict[str, Any]], questions: tuple[list[str], list[list[str]]]
) -> None:
    """Same features (word and character n-grams, sublinear tf, idf, l2 per part) and the same
    softmax: with the coefficients kept in float64 the numbers agree to rounding."""
    fit, _ = trained
    texts, tokens = questions
    assert len(texts) > 900
    theirs = fit.clf.predict_proba(fit.transform(texts, tokens))
    exact = FaqModel(faq_train.arrays(fit, "test", coef_dtype=np.float64))
    assert exact.classes == tuple(fit.clf.classes_)
    np.testing.assert_allclose(_ours(exact, questions), theirs, rtol=0, atol=1e-9)


def test_stored_model_gives_sklearns_probabilities_to_its_precision(
    tmp_path: Path,
    trained: tuple[faq_train.Trained, dict[str, Any]],
    questions: tuple[list[str], list[list[str]]],
) -> None:
    """Through the file as written (float16 coefficients): each logit is off by at most
    2**-11 of the sum of its terms' sizes, and a probability by at most that spread."""
    fit, data = trained
    path = tmp_path / "faq_model.npz"
    faq_train.write(path, data)
    model = FaqModel.load(path)
    texts, tokens = questions
    x = fit.transform(texts, tokens)
    theirs = fit.clf.predict_proba(x)
    # per question: bound on any logit's error from rounding the coefficients
    bound = COEF_RTOL * (abs(x) @ np.abs(fit.clf.coef_).T).max(axis=1)
    diff = np.abs(_ours(model, questions) - theirs).max(axis=1)
    assert (diff <= 2 * bound + 1e-7).all(), float((diff - 2 * bound).max())
    assert diff.max() < 2e-3


def test_the_file_is_deterministic(tmp_path: Path, trained: tuple[faq_train.Trained, dict[str, Any]]) -> None:
    _, data = trained
    faq_train.write(tmp_path / "a.npz", data)
    faq_train.write(tmp_path / "b.npz", {k: v.copy() for k, v in data.items()})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert (tmp_path / "a.npz").stat().st_size < 3_000_000


def test_committed_model_is_trained_on_this_faq() -> None:
    model = FaqModel.load(faq.MODEL_PATH)
    assert model.faq_sha256 == file_sha256(FAQ), (
        f"content/faq_model.npz was trained on another content/faq.yaml: {STALE}"
    )
    texts, _ = faq_train.training_set(load_faq(), load_out_of_scope())
    assert model.tokens_sha256 == faq_train.tokens_sha256(faq_train.token_docs(texts)), (
        "the training data (faq_examples.yaml, the tuning splits of bench/faq_eval.yaml) or the analyzer"
        f" (concepts, stop words...) changed since content/faq_model.npz was trained: {STALE}"
    )
    assert default_index().model is not None, f"the bot is matching without the classifier: {STALE}"


def test_training_takes_the_tuning_splits_and_no_held_out_question() -> None:
    """Training = the content's phrasings and examples, then every tuning-split question, and
    nothing else (a held-out question may still equal a phrasing: "what is vslo")."""
    entries, oos = load_faq(), load_out_of_scope()
    texts, labels = faq_train.training_set(entries, oos)
    content, _ = faq_train.training_set(entries, oos, extra=[])
    tuning = [it for it in load_eval() if it.split in TUNING_SPLITS]
    assert len(tuning) > 900
    extra = list(zip(texts, labels, strict=True))[len(content):]
    assert extra == [(t[:MAX_INPUT], label) for t, label in faq_train.item_pairs(tuning)]


def test_the_model_changes_answers() -> None:
    """The blend is really on: some tuning questions are answered differently without it."""
    alone = FaqIndex.build(load_faq(), load_out_of_scope())
    blended = default_index()
    texts = [it.text for it in load_eval() if it.split in TUNING_SPLITS]
    changed = sum(alone.match(t).entry != blended.match(t).entry for t in texts)
    assert changed >= 10


# --------------------------------------------------------------------------- fallback


@pytest.fixture
def faq_copy(tmp_path: Path) -> Path:
    path = tmp_path / "faq.yaml"
    shutil.copy(FAQ, path)
    return path


def _fallback(caplog: pytest.LogCaptureFixture, faq_path: Path, model_path: Path) -> FaqIndex:
    with caplog.at_level(logging.WARNING, logger="flows.faq.matcher"):
        index = load_index(faq_path, model_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and STALE in warnings[0].getMessage()
    assert index.model is None
    assert (index.threshold, index.oos_margin) == (faq.THRESHOLD, faq.OOS_MARGIN)
    m = index.match("how many months of usce do i need")
    assert m.entry is not None and m.entry.id == "how_much_usce"
    assert not index.match("what step 1 score do programs want").matched
    return index


def test_current_model_is_used_without_a_warning(caplog: pytest.LogCaptureFixture, faq_copy: Path) -> None:
    with caplog.at_level(logging.WARNING, logger="flows.faq.matcher"):
        index = load_index(faq_copy, faq.MODEL_PATH)
    assert index.model is not None and not caplog.records
    assert (index.threshold, index.oos_margin) == (faq.MODEL_THRESHOLD, faq.MODEL_MARGIN)


def test_missing_model_falls_back_to_the_matcher(
    caplog: pytest.LogCaptureFixture, faq_copy: Path, tmp_path: Path
) -> None:
    _fallback(caplog, faq_copy, tmp_path / "no_such_model.npz")


def test_model_of_another_faq_falls_back_to_the_matcher(caplog: pytest.LogCaptureFixture, faq_copy: Path) -> None:
    faq_copy.write_text(faq_copy.read_text(encoding="utf-8") + "\n# edited after training\n", encoding="utf-8")
    _fallback(caplog, faq_copy, faq.MODEL_PATH)


def test_unreadable_model_falls_back_to_the_matcher(
    caplog: pytest.LogCaptureFixture, faq_copy: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "faq_model.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    _fallback(caplog, faq_copy, bad)


def test_model_with_other_classes_falls_back_to_the_matcher(
    caplog: pytest.LogCaptureFixture, faq_copy: Path, tmp_path: Path
) -> None:
    """Right fingerprint, wrong entries (a hand-made file): still the matcher alone."""
    with np.load(faq.MODEL_PATH, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    data["classes"] = np.array([*data["classes"][:-1].tolist(), "not_an_entry"])
    data["faq_sha256"] = np.array(file_sha256(faq_copy))
    path = tmp_path / "faq_model.npz"
    faq_train.write(path, data)
    _fallback(caplog, faq_copy, path)
    with pytest.raises(ValueError, match="classes"):
        FaqIndex.build(load_faq(), load_out_of_scope(), model=FaqModel.load(path))


def test_model_of_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with np.load(faq.MODEL_PATH, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    data["format"] = np.array(99)
    faq_train.write(tmp_path / "m.npz", data)
    with pytest.raises(ModelError, match="format"):
        FaqModel.load(tmp_path / "m.npz")
    del data["format"]
    faq_train.write(tmp_path / "m.npz", data)
    with pytest.raises(ModelError, match="lacks"):
        FaqModel.load(tmp_path / "m.npz")
