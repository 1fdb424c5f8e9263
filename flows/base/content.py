"""Loading content files: YAML with line numbers, checked by pydantic models, so a mistake names
its file and line.

Content (texts, FAQ, checklists, milestones) lives in ``content/`` as YAML. Each file has a
pydantic model beside the code that reads it (a :class:`ContentModel` with the field types
below); :func:`read` validates a file against its model and turns the first mistake into a
:class:`ContentError` naming ``file:line``, the line of the node pydantic's error points at.
A :class:`ContentFile` names a file and how the value the code uses is read from it;
``flows.content.load_content`` reads every one once, at start, and each loader the code calls
returns the value read then.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    RootModel,
    Strict,
    Tag,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

CONTENT_DIR = Path(__file__).resolve().parents[2] / "content"


class ContentError(ValueError):
    """A content file is malformed; the message names the file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        path = Path(path)
        shown = f"{path.parent.name}/{path.name}" if path.parent.name == "texts" else path.name
        where = f"{shown}:{line}" if line else shown
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


class LineDict(dict[str, Any]):
    """A mapping read from YAML that remembers the line it started on and each key's (1-based)."""

    line: int = 0
    lines: Mapping[str, int] = {}


class LineList(list[Any]):
    """A list read from YAML that remembers the line it started on and each item's (1-based)."""

    line: int = 0
    lines: Sequence[int] = ()


def _line_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """A safe loader on ``base`` whose mappings and lists remember their lines (for messages)."""

    class LineLoader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
            lines: dict[str, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if str(key) in lines:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                lines[str(key)] = key_node.start_mark.line + 1
            mapping = LineDict({str(k): v for k, v in super().construct_mapping(node, deep=True).items()})
            mapping.line = node.start_mark.line + 1
            mapping.lines = lines
            return mapping

        def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
            seq = LineList(super().construct_sequence(node, deep=True))
            seq.line = node.start_mark.line + 1
            seq.lines = [item.start_mark.line + 1 for item in node.value]
            return seq

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LineLoader.construct_mapping)
    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, LineLoader.construct_sequence)
    return LineLoader


# On libyaml's parser when PyYAML was built with it (the wheels are): the same nodes and marks,
# parsed about ten times faster, which was most of the start-up's content loading.
_LineLoader = _line_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml(path: Path | str) -> Any:
    """Read a YAML file; mappings come back as :class:`LineDict` and lists as :class:`LineList`."""
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


# -- models --------------------------------------------------------------------------------------
class ContentModel(BaseModel):
    """A content file's model, or a part of one: frozen, and refusing keys it does not name."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _filled(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value


Int = Annotated[int, Strict()]  # a whole number as written: never "3", 3.5 or true
Number = Annotated[float, Strict()]  # a whole or decimal number, never a text or true/false
Bool = Annotated[bool, Strict()]  # true or false, never "yes"
Text = Annotated[str, Strict(), AfterValidator(_filled)]  # a text with more than spaces in it


def between(low: float, high: float) -> AfterValidator:
    """A field's bounds, both included: ``Annotated[Int, between(1, 12)]``."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return AfterValidator(check)


def rule(message: str, *at: str | int, first: Sequence[str | int] = ()) -> PydanticCustomError:
    """A content rule broken, to raise in a validator: ``message`` as the operator reads it
    (naming what is wrong), ``at`` the place below the validated value it is about (keys and
    indexes), so the error names that line; ``first``, from the file's top, where what is
    repeated at ``at`` came first (its line is added to the message)."""
    return PydanticCustomError("rule", "{message}", {"message": message, "at": at, "first": tuple(first)})


M = TypeVar("M", bound=BaseModel)


def read(path: Path | str, model: type[M], context: Mapping[str, Any] | None = None) -> M:
    """The file at ``path`` validated by ``model``; the first mistake raises :class:`ContentError`."""
    raw = load_yaml(path)
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        raise invalid(path, raw, exc.errors()[0]) from None


def invalid(path: Path | str, raw: Any, error: ErrorDetails) -> ContentError:
    """Pydantic's error as a :class:`ContentError` on the line of the node its location names."""
    ctx = error.get("ctx") or {}
    loc = (*error["loc"], *ctx.get("at", ()))
    line, found = _locate(raw, loc)
    message = _message(error, loc, found)
    if ctx.get("first"):
        message += f" (first at line {_locate(raw, ctx['first'])[0]})"
    return ContentError(path, line, message)


def _locate(raw: Any, loc: Sequence[Any]) -> tuple[int | None, list[Any]]:
    """The line of the deepest node ``loc`` reaches in ``raw``, and the parts that were nodes."""
    node, line, found = raw, line_of(raw), []
    for part in loc:
        if isinstance(node, dict) and part in node:
            line = getattr(node, "lines", {}).get(part, line)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            lines = getattr(node, "lines", ())
            line = lines[part] if part < len(lines) else line
        else:
            continue  # not a node: a missing key, or pydantic's tag of a union member
        node = node[part]
        found.append(part)
    return line, found


_KINDS = {"int": "int", "float": "int or float", "string": "str", "bool": "bool", "list": "list",
          "tuple": "list", "set": "list", "frozen_set": "list", "dict": "dict", "model": "dict"}


def _message(error: ErrorDetails, loc: Sequence[Any], found: Sequence[Any]) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    start = max((i for i, part in enumerate(found) if isinstance(part, str)), default=0)
    name = ".".join(str(part) for part in found[start:])  # "question", "aliases.2"
    base = kind.removesuffix("_type").removesuffix("_parsing").removesuffix("_attributes")
    if kind == "rule":
        return msg
    if kind == "missing":
        return f"missing '{loc[-1]}'"
    if kind == "extra_forbidden":
        return f"unknown key '{name}'"
    if base in _KINDS and base != kind:
        wanted = _KINDS[base]
        return f"'{name}' must be {wanted}" if name else f"expected a {'mapping' if wanted == 'dict' else wanted}"
    if kind == "literal_error":
        return f"'{name}' must be {(error.get('ctx') or {}).get('expected')}"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        return f"'{name}' {msg}" if name else msg
    return f"'{name}': {msg}" if name else msg


T = TypeVar("T")


class ContentFile(Generic[T]):
    """One content file (the texts: a folder) and how the value the code uses is read from it.

    ``flows.content.load_content`` reads every file at start and keeps each value here;
    :meth:`value` returns the value kept, reading the file of ``content/`` itself the first
    time when nothing loaded it before (a test, a tool that needs one file).
    """

    def __init__(self, name: str, parse: Callable[[Path], T]) -> None:
        self.name = name
        self.parse = parse
        self._kept: list[tuple[T, Path]] = []

    def read(self, directory: Path) -> T:
        return self.parse(directory / self.name)

    def keep(self, value: T, directory: Path) -> None:
        self._kept[:] = [(value, directory / self.name)]

    def value(self) -> T:
        if not self._kept:
            self.keep(self.read(CONTENT_DIR), CONTENT_DIR)
        return self._kept[0][0]

    @property
    def source(self) -> Path:
        """The file the kept value was read from."""
        self.value()
        return self._kept[0][1]


# -- texts ---------------------------------------------------------------------------------------
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


def _placeholders(value: str) -> str:
    try:
        list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"is not a text with {{placeholders}}: {exc}") from None
    return value


class TextFile(RootModel[dict[str, "TextNode"]]):
    """A file of ``content/texts``: key -> text, or key -> a group of keys."""

    model_config = ConfigDict(frozen=True)

    def flat(self, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in self.root.items():
            name = f"{prefix}.{key}"
            out |= value.flat(name) if isinstance(value, TextFile) else {name: value.strip("\n")}
        return out


TextNode = Annotated[
    Union[  # noqa: UP007 (pydantic needs the members as a Union to tag them)
        Annotated[Annotated[Text, AfterValidator(_placeholders)], Tag("text")],
        Annotated[TextFile, Tag("group")],
    ],
    Discriminator(lambda value: "group" if isinstance(value, dict) else "text"),
]
TextFile.model_rebuild()


def load_texts(directory: Path = CONTENT_DIR / "texts") -> Texts:
    """Load every ``content/texts/*.yaml``; keys are prefixed by the file's stem."""
    entries: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        entries |= read(path, TextFile).flat(path.stem)
    return Texts(entries)


TEXTS = ContentFile("texts", load_texts)


def texts() -> Texts:
    """The project's texts, loaded once per process."""
    return TEXTS.value()
