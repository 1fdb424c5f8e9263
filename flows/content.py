"""Every content file, read and checked once, at start: :func:`load_content`.

Each file's pydantic model sits beside the code that reads it (``typed.yaml`` in
``flows/domain/typed.py``, ``checklist.yaml`` in ``flows/features/vet/checklist.py``, ...) and
keeps its value in a :class:`~flows.base.content.ContentFile`, which the loaders the code calls
(``checklist()``, ``benchmarks()``, ``texts()``...) return. This module lists them all, so it
stands above the layers instead of in ``flows/base``, which may import none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.base.content import CONTENT_DIR, TEXTS, ContentFile
from flows.domain.benchmarks import BENCHMARKS
from flows.domain.eras import ERAS
from flows.domain.nudges import NUDGES
from flows.domain.outreach import OUTREACH
from flows.domain.plan_content import MILESTONES, RULES
from flows.domain.typed import VOCABULARY
from flows.faq.entries import EXAMPLES, FAQ
from flows.features.ask import SMALLTALK
from flows.features.interview import QUESTIONS
from flows.features.vet.checklist import CHECKLIST

FILES: tuple[ContentFile[Any], ...] = (
    TEXTS, VOCABULARY, BENCHMARKS, RULES, MILESTONES, NUDGES, FAQ, EXAMPLES, CHECKLIST, QUESTIONS, ERAS,
    OUTREACH, SMALLTALK,
)


def load_content(directory: Path | None = None) -> dict[str, Any]:
    """Read and check every content file of ``directory`` (``content/`` by default), then keep
    each value for the code's loaders; returns them by file name. The first mistake raises
    :class:`~flows.base.content.ContentError` naming its file and line, and nothing is kept."""
    folder = directory or CONTENT_DIR
    values = [(file, file.read(folder)) for file in FILES]
    for file, value in values:
        file.keep(value, folder)
    return {file.name: value for file, value in values}
