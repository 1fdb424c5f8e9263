"""Every content file is checked once, at start (flows/content.py): a copy of content/ with one
file broken (a wrong type, a missing key, bad YAML) makes load_content raise a ContentError
naming that file and line, and `usce-coach check`, `run` and `chat` stop with that line."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings
from flows.base.content import CONTENT_DIR, ContentError, texts
from flows.content import FILES, load_content
from flows.domain.benchmarks import benchmarks
from flows.features.vet.checklist import checklist

TOKEN = "123456789:" + "AAHcontentTestToke" + "n_abcdefghijklmnopq"  # in parts, so no token-shaped literal

# file, the text replaced, its replacement, a piece of the line the error names, the message
CASES = [
    ("typed.yaml", "  week: {months: 0.25,", "  week: {months: lots,", "week: {months: lots",
     "'months' must be int or float"),
    ("typed.yaml", "  week: {months: 0.25, words:", "  week: {words:", "week: {words:", "missing 'months'"),
    ("typed.yaml", "  zero: 0\n", "  zero: 0: 1\n", "zero: 0: 1", "mapping values are not allowed"),
    ("benchmarks.yaml", "  window_years: 3", "  window_years: three", "window_years", "'window_years' must be int"),
    ("benchmarks.yaml", "  window_years: 3\n", "", "recency:", "missing 'window_years'"),
    ("benchmarks.yaml", "letters_by_months_before: 6", "letters_by_months_before: 6: 7", "letters_by_months",
     "mapping values are not allowed"),
    ("plan.yaml", "  cycle_month: 9 ", "  cycle_month: nine ", "cycle_month", "'cycle_month' must be int"),
    ("plan.yaml", "  - name: Psychiatry\n    aliases:", "  - aliases:", "  - aliases: [psych", "missing 'name'"),
    ("plan.yaml", "  cycle_month: 9 ", "  cycle_month: 9: 10 ", "cycle_month", "mapping values are not allowed"),
    ("milestones.yaml", "  months_before: [18, 12]", "  months_before: [eighteen, 12]", "eighteen",
     "'months_before.0' must be int"),
    ("milestones.yaml", "  title: 12–18 months before — lock in your USCE\n", "", "- id: secure", "missing 'title'"),
    ("milestones.yaml", "- id: secure", "- id: secure: x", "- id: secure", "mapping values are not allowed"),
    ("nudges.yaml", "  snooze_days: 7 ", "  snooze_days: a week ", "snooze_days", "'snooze_days' must be int"),
    ("nudges.yaml", "  vetting_days: 5 ", "  # vetting_days: 5 ", "events:", "missing 'vetting_days'"),
    ("nudges.yaml", "  batch: 300 ", "  batch: 300: 400 ", "batch", "mapping values are not allowed"),
    ("faq.yaml", "    topic: Why USCE matters", "    topic: [Why USCE matters]", "[Why USCE matters]",
     "'topic' must be str"),
    ("faq.yaml", "    topic: Why USCE matters\n", "", "- id: why_usce_matters", "missing 'topic'"),
    ("faq.yaml", "    topic: Why USCE matters", "    topic: Why: USCE matters", "Why: USCE", "mapping values are"),
    ("faq_examples.yaml", "  why_usce_matters:\n    - ", "  why_usce_matters:\n    - [a, list]\n    - ",
     "- [a, list]", "'why_usce_matters.0' must be str"),
    ("faq_examples.yaml", "  why_usce_matters:", "  why_usce_matterz:", "why_usce_matterz",
     "'why_usce_matterz' is not an id in faq.yaml"),
    ("faq_examples.yaml", "\nentries:\n", "\nentriez:\n", "entriez:", "unknown key 'entriez'"),
    ("faq_examples.yaml", "  why_usce_matters:", "  why_usce_matters: x: y", "why_usce_matters", "mapping values"),
    ("checklist.yaml", "    why: They can judge your work up close — and later write about it.", "    why: [judge]",
     "why: [judge]", "'why' must be str"),
    ("checklist.yaml", "    why: They can judge your work up close — and later write about it.\n", "",
     "- id: attendings", "missing 'why'"),
    ("checklist.yaml", "  - id: attendings", "  - id: attendings: x", "- id: attendings", "mapping values"),
    ("interview.yaml", "    label: How it prepared you", "    label: 42", "label: 42", "'label' must be str"),
    ("interview.yaml", "    label: How it prepared you\n", "", "- id: prep", "missing 'label'"),
    ("interview.yaml", "    label: How it prepared you", "    label: How: it prepared you", "How: it",
     "mapping values"),
    ("eras.yaml", "  both: inpatient and outpatient", "  both: [inpatient, outpatient]", "both:", "'both' must be str"),
    ("eras.yaml", "{title: Observership, cap: non}", "{title: Observership}", "{title: Observership}",
     "missing 'cap'"),
    ("eras.yaml", "  both: inpatient and outpatient", "  both: inpatient: outpatient", "both:", "mapping values"),
    ("outreach.yaml", "page_size: 8", "page_size: eight", "page_size", "'page_size' must be int"),
    ("outreach.yaml", "page_size: 8\n", "", "followup_days:", "missing 'page_size'"),
    ("outreach.yaml", "page_size: 8", "page_size: 8: 9", "page_size", "mapping values are not allowed"),
    ("smalltalk.yaml", "  - thx\n", "  - [thx]\n", "- [thx]", r"'thanks\.\d+' must be str"),
    ("smalltalk.yaml", "goodbye:", "goodby:", "greeting:", "missing 'goodbye'"),
    ("smalltalk.yaml", "  - thx\n", "  - thx: a: b\n", "thx: a: b", "mapping values are not allowed"),
]
TEXT_FILES = sorted(p.name for p in (CONTENT_DIR / "texts").glob("*.yaml"))
TEXT_BREAKS = [("42", "must be str"), ("''", "is empty"), ("a: b", "mapping values are not allowed")]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of content/'s YAML files (the rest is not read from this folder)."""
    folder = tmp_path_factory.mktemp("pristine") / "content"
    shutil.copytree(CONTENT_DIR, folder, ignore=shutil.ignore_patterns("*.npz", "*.gz", "fonts", "templates", "*.py"))
    (folder / "faq_model.npz").symlink_to(CONTENT_DIR / "faq_model.npz")  # the classifier beside the FAQ
    return folder


@pytest.fixture(autouse=True)
def content_back() -> Iterator[None]:
    """Whatever a test loaded, the rest of the run reads the bot's own content."""
    yield
    load_content()


def broken_copy(pristine: Path, tmp_path: Path, name: str, old: str, new: str, marker: str) -> tuple[Path, int]:
    """A copy of content/ with ``old`` replaced by ``new`` in ``name``, and the line holding ``marker``."""
    folder = tmp_path / "content"
    shutil.copytree(pristine, folder, symlinks=True)
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{name} no longer holds {old!r}"
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return folder, next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


def a_text_broken(pristine: Path, tmp_path: Path, name: str, value: str) -> tuple[Path, int]:
    """``texts/<name>`` with its first one-line text replaced by ``value``."""
    source = (pristine / "texts" / name).read_text(encoding="utf-8")
    line = next(ln for ln in source.splitlines() if re.fullmatch(r" *[a-z_0-9]+: [^|>\s].*", ln))
    key = line.split(":", 1)[0]
    return broken_copy(pristine, tmp_path, f"texts/{name}", line + "\n", f"{key}: {value}\n", f"{key}: {value}")


def test_every_content_file_is_checked_at_start() -> None:
    names = {p.name for p in CONTENT_DIR.glob("*.yaml")} | {"texts"}
    assert {file.name for file in FILES} == names


def test_a_good_copy_loads_and_the_loaders_return_what_it_loaded(pristine: Path) -> None:
    loaded = load_content(pristine)
    assert set(loaded) == {file.name for file in FILES}
    assert checklist() is loaded["checklist.yaml"] and benchmarks() is loaded["benchmarks.yaml"]
    assert texts() is loaded["texts"] and texts().entries == load_content()["texts"].entries


@pytest.mark.parametrize(("name", "old", "new", "marker", "message"), CASES)
def test_a_broken_file_names_its_file_and_line(
    pristine: Path, tmp_path: Path, name: str, old: str, new: str, marker: str, message: str
) -> None:
    folder, line = broken_copy(pristine, tmp_path, name, old, new, marker)
    before = checklist()
    with pytest.raises(ContentError, match=rf"^{re.escape(name)}:{line}: {message}"):
        load_content(folder)
    assert checklist() is before  # nothing of the broken copy is kept


@pytest.mark.parametrize("name", TEXT_FILES)
@pytest.mark.parametrize(("value", "message"), TEXT_BREAKS)
def test_a_broken_text_file_names_its_file_and_line(
    pristine: Path, tmp_path: Path, name: str, value: str, message: str
) -> None:
    folder, line = a_text_broken(pristine, tmp_path, name, value)
    with pytest.raises(ContentError, match=rf"^texts/{re.escape(name)}:{line}: .*{message}"):
        load_content(folder)


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment of an operator starting the bot: no .env, a database in a fresh folder."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DATABASE_PATH", str(work / "coach.db"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")  # never reached
    return work


FIRST_OF_EACH = list({case[0]: case for case in reversed(CASES)}.values())


@pytest.mark.parametrize("case", FIRST_OF_EACH, ids=lambda case: case[0])
def test_check_and_start_up_stop_at_the_broken_line(
    pristine: Path, tmp_path: Path, operator: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], case: tuple[str, str, str, str, str],
) -> None:
    name, old, new, marker, message = case
    folder, line = broken_copy(pristine, tmp_path, name, old, new, marker)
    monkeypatch.setenv("CONTENT_DIR", str(folder))
    assert main(["check"]) == 1
    out = capsys.readouterr()
    assert re.fullmatch(rf"  ✗ content: {re.escape(name)}:{line}: {message}.*\n", out.err)
    assert out.out.strip().splitlines()[-1] == "1 problem(s) found"
    for command in (["run"], ["chat", "--user", "ann"]):
        assert main(command) == 2, command
        out = capsys.readouterr()
        assert re.fullmatch(rf"Cannot start — a content file has a mistake: {re.escape(name)}:{line}: {message}.*\n",
                            out.err), out.err
        assert out.out == "" and "Traceback" not in out.err


def test_a_broken_text_stops_the_start_too(
    pristine: Path, tmp_path: Path, operator: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, line = a_text_broken(pristine, tmp_path, "core.yaml", "42")
    monkeypatch.setenv("CONTENT_DIR", str(folder))
    assert main(["chat"]) == 2
    assert capsys.readouterr().err.startswith(f"Cannot start — a content file has a mistake: texts/core.yaml:{line}: ")


def test_check_passes_on_a_good_copy_and_names_a_missing_folder(
    pristine: Path, operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    monkeypatch.setenv("CONTENT_DIR", str(pristine))
    assert main(["check"]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    monkeypatch.setenv("CONTENT_DIR", str(operator / "nowhere"))
    with pytest.raises(SystemExit, match="2"):
        main(["chat"])
    assert f"CONTENT_DIR {operator / 'nowhere'} is not a folder" in capsys.readouterr().err
