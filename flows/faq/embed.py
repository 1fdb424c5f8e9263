"""Static sentence embeddings from the files the ``wordllama`` wheel ships, read offline.

The wheel (pinned in pyproject.toml) holds its 256-dimension ``l2_supercat`` weights (16 MB,
``weights/``) and their tokenizer (``tokenizers/``). They are read here straight from the
package's folder with ``tokenizers`` and ``safetensors``, the libraries wordllama itself uses,
without importing wordllama: its import calls ``logging.basicConfig``, which would put a second,
unredacted log handler on the root logger, and its loader looks for the tokenizer in a folder
that does not exist and then tries to download it. Nothing is ever fetched
(``tests/test_faq_model.py`` loads with the network cut off, and checks the vectors against
``WordLlama.load(cache_dir=<package folder>, disable_download=True).embed``). An embedding is
the mean of the message's token vectors (wordllama's average pooling), l2-normalised.
"""

from __future__ import annotations

import functools
import importlib.util
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from flows.faq.model import ModelError

PINNED = "0.4.0.post1"  # pyproject.toml pins the same version: the model's arrays depend on it
CONFIG = "l2_supercat"
DIM = 256
MAX_TOKENS = 512  # a message's first tokens: more add nothing but time

Array = np.ndarray[Any, Any]


def package_folder() -> Path:
    """The installed wordllama package's folder, found without importing it."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("wordllama is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class Embedder:
    """Texts -> l2-normalised float32 vectors of ``DIM`` numbers."""

    def __init__(self, folder: Path | None = None) -> None:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        try:
            version = metadata.version("wordllama")
        except metadata.PackageNotFoundError:
            raise ModelError("wordllama is not installed") from None
        if version != PINNED:
            raise ModelError(f"wordllama {version} installed, the model was made with {PINNED}")
        folder = folder or package_folder()
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizers" / f"{CONFIG}_tokenizer_config.json"))
            weights = load_file(str(folder / "weights" / f"{CONFIG}_{DIM}.safetensors"))["embedding.weight"]
        except (OSError, KeyError, SafetensorError, Exception) as e:  # noqa: BLE001 - tokenizers raises a bare Exception
            raise ModelError(f"cannot read the wordllama files in {folder}: {e}") from None
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._weights = weights  # float16 as shipped: a message's rows are widened when read

    def embed(self, texts: list[str]) -> Array:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        # one message: encode() (encode_batch hands work to a thread pool, which costs more)
        encoded = (self._tokenizer.encode_batch(texts, add_special_tokens=False) if len(texts) > 8
                   else [self._tokenizer.encode(t, add_special_tokens=False) for t in texts])
        for i, enc in enumerate(encoded):
            ids = enc.ids[:MAX_TOKENS]
            if ids:
                out[i] = self._weights[np.clip(ids, 0, len(self._weights) - 1)].astype(np.float32).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


@functools.cache
def default_embedder() -> Embedder:
    """The embedder, loaded once per process."""
    return Embedder()
