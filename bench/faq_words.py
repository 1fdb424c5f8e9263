"""Write content/english_words.txt.gz: the English word list typo repair leaves alone.

    python -m bench.faq_words

The words are pyspellchecker's English frequency list (a development dependency), letters
only, every word it holds (it keeps words seen at least 50 times in its sources), most
frequent first: when two words are equally close to a typo, the more frequent one wins. Typo
repair (``flows/faq/words.py``) only touches a word that is neither in this list nor in the
FAQ model's own vocabulary, so "plant", "memory" or "internship" are never rewritten.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import spellchecker

from flows.base.content import CONTENT_DIR

OUT = CONTENT_DIR / "english_words.txt.gz"


def words() -> list[str]:
    source = Path(spellchecker.__file__).parent / "resources" / "en.json.gz"
    freq: dict[str, int] = json.loads(gzip.decompress(source.read_bytes()))
    return sorted((w for w in freq if w.isascii() and w.isalpha()), key=lambda w: (-freq[w], w))


def main() -> None:
    listed = words()
    # mtime 0: the same list gives the same bytes
    OUT.write_bytes(gzip.compress(("\n".join(listed) + "\n").encode(), mtime=0))
    print(f"{len(listed)} words -> {OUT}")


if __name__ == "__main__":
    main()
