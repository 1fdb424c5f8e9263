"""The FAQ model: numpy gives sklearn's probabilities, the embeddings are wordllama's and load
without the network, the committed model is current, and a missing or stale model falls back
to nearest neighbours."""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import faq_train
from flows.faq import FaqIndex, default_index, load_examples, load_faq, load_index, load_out_of_scope
from flows.faq import embed as faq_embed
from flows.faq import index as faq_index
from flows.faq.entries import FAQ_PATH
from flows.faq.model import FaqModel, ModelError, file_sha256

STALE = "run make faq-model"
COEF_RTOL = 2.0**-11  # float16 keeps 11 significant bits
ODD = ["", "   ", "😂🙏🔥", "x" * 4096, "usce " * 900, "a b c", "İstanbul ÉCOLE naïve", "tab\tsep\u00a0nbsp\x1cfs",
       "LoR?!", "obsv obsv obsv", "ﬁle ligature"]


@pytest.fixture(scope="module")
def small() -> tuple[faq_train.Trained, dict[str, Any], faq_train.Reading]:
    """A model of a dozen entries (training on all of them takes far longer than a test should)."""
    entries, oos = load_faq()[:12], load_out_of_scope()[:3]
    reading = faq_train.reading_for(entries, oos)
    trained = faq_train.fit(entries, oos, load_examples(), reading)
    return trained, faq_train.arrays(trained, "test"), reading


def _questions(reading: faq_train.Reading) -> tuple[list[str], list[list[str]], np.ndarray[Any, Any]]:
    texts = [p for e in load_faq()[10:20] for p in e.phrasings] + ODD
    return reading(texts)


def test_numpy_probabilities_are_sklearns(small: tuple[faq_train.Trained, dict[str, Any], faq_train.Reading]) -> None:
    fit, _, reading = small
    norms, fixed, vectors = _questions(reading)
    theirs = fit.clf.predict_proba(fit.transform(norms, fixed, vectors))
    exact = FaqModel(faq_train.arrays(fit, "test", coef_dtype=np.float64))
    ours = np.array([exact.probabilities(t, k, v) for t, k, v in zip(norms, fixed, vectors, strict=True)])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_stored_model_gives_sklearns_probabilities_to_its_precision(
    tmp_path: Path, small: tuple[faq_train.Trained, dict[str, Any], faq_train.Reading]
) -> None:
    fit, data, reading = small
    path = tmp_path / "faq_model.npz"
    faq_train.write(path, data)
    model = FaqModel.load(path)
    norms, fixed, vectors = _questions(reading)
    theirs = fit.clf.predict_proba(fit.transform(norms, fixed, vectors))
    ours = np.array([model.probabilities(t, k, v) for t, k, v in zip(norms, fixed, vectors, strict=True)])
    assert np.abs(ours - theirs).max() < 2e-3


def test_neighbours_are_each_classes_best_cosine(
    small: tuple[faq_train.Trained, dict[str, Any], faq_train.Reading],
) -> None:
    fit, data, reading = small
    model = FaqModel(data)
    _, _, vectors = _questions(reading)
    stored = data["knn_vectors"].astype(np.float32)
    for v in vectors[:5]:
        sims = stored @ v
        expected = [max(0.0, max((s for s, lab in zip(sims, fit.labels, strict=True) if lab == c), default=0.0))
                    for c in model.classes]
        np.testing.assert_allclose(model.neighbours(v), expected, atol=1e-6)


def test_the_file_is_deterministic(
    tmp_path: Path, small: tuple[faq_train.Trained, dict[str, Any], faq_train.Reading]
) -> None:
    _, data, _ = small
    faq_train.write(tmp_path / "a.npz", data)
    faq_train.write(tmp_path / "b.npz", {k: v.copy() for k, v in data.items()})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_committed_model_is_trained_on_this_faq() -> None:
    model = FaqModel.load(faq_index.MODEL_PATH)
    assert model.faq_sha256 == file_sha256(FAQ_PATH), f"content/faq_model.npz was trained on another faq.yaml: {STALE}"
    assert model.tokens_sha256 == faq_train.TOKENS_VERSION
    assert default_index().model is not None, f"the bot is answering without the classifier: {STALE}"


def test_training_is_the_content_alone() -> None:
    """Training messages are the entries' questions, phrasings and examples and the out-of-scope
    ones: no evaluation question."""
    entries, oos = load_faq(), load_out_of_scope()
    texts, labels = faq_train.training_set(entries, oos, load_examples())
    content = {e.question for e in entries} | {p for e in entries for p in e.phrasings}
    content |= {p for o in oos for p in o.phrasings} | {m for ms in load_examples().values() for m in ms}
    assert set(texts) <= content
    assert set(labels) == {e.id for e in entries} | {faq_train.DECLINE}


# --------------------------------------------------------------------------- embeddings


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access while loading the FAQ model")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def test_loading_makes_no_network_call(no_network: None) -> None:
    embedder = faq_embed.Embedder()
    assert embedder.embed(["observership"]).shape == (1, faq_embed.DIM)
    index = load_index()
    assert index.model is not None


def test_embeddings_are_wordllamas_own(no_network: None) -> None:
    """The same vectors as wordllama's loader given the package folder and no downloads (its
    import touches the root logger, so the handlers are put back)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from wordllama import WordLlama

        theirs = WordLlama.load(config=faq_embed.CONFIG, dim=faq_embed.DIM, cache_dir=faq_embed.package_folder(),
                                disable_download=True)
    finally:
        root.handlers[:], root.level = handlers, level
    texts = ["when do I ask for a LOR", "obsrvership b1/b2 ok?", "İstanbul ÉCOLE", "x"]
    expected = np.asarray(theirs.embed(texts, norm=True))
    np.testing.assert_allclose(faq_embed.Embedder().embed(texts), expected, atol=1e-6)


def test_an_unpinned_wordllama_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faq_embed, "PINNED", "0.0.1")
    with pytest.raises(ModelError, match=r"0\.0\.1"):
        faq_embed.Embedder()


# --------------------------------------------------------------------------- fallback


@pytest.fixture
def faq_copy(tmp_path: Path) -> Path:
    path = tmp_path / "faq.yaml"
    shutil.copy(FAQ_PATH, path)
    return path


def _fallback(caplog: pytest.LogCaptureFixture, faq_path: Path, model_path: Path) -> FaqIndex:
    with caplog.at_level(logging.WARNING, logger="flows.faq"):
        index = load_index(faq_path, model_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and STALE in warnings[0].getMessage()
    assert index.model is None and index.threshold == faq_index.FALLBACK_THRESHOLD
    m = index.match("how many months of usce do i need")
    assert m.entry is not None and m.entry.id == "how_much_usce"
    return index


def test_current_model_is_used_without_a_warning(caplog: pytest.LogCaptureFixture, faq_copy: Path) -> None:
    with caplog.at_level(logging.WARNING, logger="flows.faq"):
        index = load_index(faq_copy, faq_index.MODEL_PATH)
    assert index.model is not None and not caplog.records
    assert index.threshold == faq_index.THRESHOLD


def test_missing_model_falls_back(caplog: pytest.LogCaptureFixture, faq_copy: Path, tmp_path: Path) -> None:
    _fallback(caplog, faq_copy, tmp_path / "no_such_model.npz")


def test_model_of_another_faq_falls_back(caplog: pytest.LogCaptureFixture, faq_copy: Path) -> None:
    faq_copy.write_text(faq_copy.read_text(encoding="utf-8") + "\n# edited after training\n", encoding="utf-8")
    _fallback(caplog, faq_copy, faq_index.MODEL_PATH)


def test_unreadable_model_falls_back(caplog: pytest.LogCaptureFixture, faq_copy: Path, tmp_path: Path) -> None:
    bad = tmp_path / "faq_model.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    _fallback(caplog, faq_copy, bad)


def test_model_with_other_classes_falls_back(caplog: pytest.LogCaptureFixture, faq_copy: Path, tmp_path: Path) -> None:
    with np.load(faq_index.MODEL_PATH, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    data["classes"] = np.array([*data["classes"][:-1].tolist(), "not_an_entry"])
    data["faq_sha256"] = np.array(file_sha256(faq_copy))
    path = tmp_path / "faq_model.npz"
    faq_train.write(path, data)
    _fallback(caplog, faq_copy, path)
    with pytest.raises(ValueError, match="classes"):
        FaqIndex(load_faq(), load_out_of_scope(), model=FaqModel.load(path))


def test_model_of_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with np.load(faq_index.MODEL_PATH, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    data["format"] = np.array(99)
    faq_train.write(tmp_path / "m.npz", data)
    with pytest.raises(ModelError, match="format"):
        FaqModel.load(tmp_path / "m.npz")
    del data["format"]
    faq_train.write(tmp_path / "m.npz", data)
    with pytest.raises(ModelError, match="lacks"):
        FaqModel.load(tmp_path / "m.npz")
