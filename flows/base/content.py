"""Loading content files: YAML with line numbers, so a mistake names its file and line.

Content (texts, FAQ, checklists, milestones) lives in ``content/`` as YAML. Each
loader turns it into frozen dataclasses once, at start, and raises
:class:`ContentError` with ``file:line`` on the first problem it finds.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONTENT_DIR = Path(__file__).resolve().parents[2] / "content"


class ContentError(ValueError):
    """A content file is malformed; the message names the file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{Path(path).name}:{line}" if line else f"{Path(path).name}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


class LineDict(dict[str, Any]):
    """A mapping read from YAML that remembers the line it started on (1-based)."""

    line: int = 0


class LineList(list[Any]):
    line: int = 0


def _line_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """A safe loader on ``base`` whose mappings and lists remember their line (for messages)."""

    class LineLoader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
            keys: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                keys.add(key)
            mapping = LineDict({str(k): v for k, v in super().construct_mapping(node, deep=True).items()})
            mapping.line = node.start_mark.line + 1
            return mapping

        def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
            seq = LineList(super().construct_sequence(node, deep=True))
            seq.line = node.start_mark.line + 1
            return seq

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LineLoader.construct_mapping)
    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, LineLoader.construct_sequence)
    return LineLoader


# On libyaml's parser when PyYAML was built with it (the wheels are): the same nodes and marks,
# parsed about ten times faster, which was most of the start-up's content loading.
_LineLoader = _line_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml(path: Path | str) -> Any:
    """Read a YAML file; mappings come back as :class:`LineDict` with ``.line``."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ContentError(path, mark.line + 1 if mark else None, str(exc.problem)) from exc
    except OSError as exc:
        raise ContentError(path, None, f"cannot read: {exc.strerror}") from exc


def line_of(node: Any) -> int | None:
    return getattr(node, "line", None) or None


def require(
    path: Path | str, node: Mapping[str, Any], key: str, kind: type | tuple[type, ...] = str
) -> Any:
    """Return ``node[key]``, raising a ContentError naming the line when missing or mistyped."""
    if key not in node:
        raise ContentError(path, line_of(node), f"missing '{key}'")
    value = node[key]
    if not isinstance(value, kind):
        raise ContentError(path, line_of(node), f"'{key}' must be {_kind_name(kind)}")
    if isinstance(value, str) and not value.strip():
        raise ContentError(path, line_of(node), f"'{key}' is empty")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


@dataclass(frozen=True, slots=True)
class Texts:
    """The catalogue of every text the assistant shows, keyed by a dotted name.

    Texts are HTML (Telegram's subset: <b>, <i>, <code>). Placeholders use
    ``{name}``; :meth:`fmt` escapes every inserted value.
    """

    entries: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def fmt(self, key: str, **values: object) -> str:
        from flows.base.text import escape

        return self.entries[key].format_map({k: escape(str(v)) for k, v in values.items()})

    def fields(self, key: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.entries[key]) if f}


def load_texts(directory: Path = CONTENT_DIR / "texts") -> Texts:
    """Load every ``content/texts/*.yaml``; keys are prefixed by the file's stem."""
    entries: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise ContentError(path, None, "expected a mapping of key: text")
        _flatten(path, path.stem, data, entries)
    return Texts(entries)


def _flatten(path: Path, prefix: str, node: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in node.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            _flatten(path, name, value, out)
        elif isinstance(value, str):
            if not value.strip():
                raise ContentError(path, line_of(node), f"text '{name}' is empty")
            try:
                list(string.Formatter().parse(value))
            except ValueError as exc:
                raise ContentError(path, line_of(node), f"text '{name}': {exc}") from exc
            out[name] = value.strip("\n")
        else:
            raise ContentError(path, line_of(node), f"text '{name}' must be a string")


@functools.cache
def texts() -> Texts:
    """The project's texts, loaded once per process."""
    return load_texts()
