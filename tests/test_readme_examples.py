"""The README's shell examples work, in order, on a site set up as ``make run`` sets it up.

A shell block runs here when the line before it (blank lines aside) is the marker
``<!-- example: runs in tests -->``; add the marker to a new example to have it checked. Every
command of a marked block must be ``.venv/bin/python manage.py ...`` (with ``\\`` line
continuations and ``#`` comments as in a shell): it is run in this process with
``call_command`` on the test databases, after the steps of the Makefile's ``run`` target that
prepare the site (``make_demo_data --if-empty``, ``ensure_local_user``; ``serve`` is not
started). A command that fails fails the test, naming the README line.
"""

from __future__ import annotations

import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

README = Path(settings.BASE_DIR) / "README.md"
MAKEFILE = Path(settings.BASE_DIR) / "Makefile"
MARKER = "<!-- example: runs in tests -->"
PROGRAM = [".venv/bin/python", "manage.py"]
MAKE_PROGRAM = ["$(PY)", "manage.py"]
NOT_RUN_HERE = {"serve"}  # serves until Ctrl-C


@dataclass(frozen=True)
class Example:
    line: int  # 1-based line of the command in its file
    argv: list[str]  # after "manage.py"

    def __str__(self) -> str:
        return f"README.md:{self.line}: manage.py {shlex.join(self.argv)}"


def _commands(lines: list[str], first_line: int, program: list[str]) -> list[Example]:
    """Shell commands of a block's lines (continuations joined, comments dropped)."""
    examples, pending, start = [], "", 0
    for offset, raw in enumerate(lines):
        if not pending:
            start = first_line + offset
        text = pending + raw
        if text.rstrip().endswith("\\"):
            pending = text.rstrip()[:-1] + " "
            continue
        pending = ""
        words = shlex.split(text, comments=True)
        if not words:
            continue
        assert words[: len(program)] == program, f"line {start}: not `{' '.join(program)} ...`"
        examples.append(Example(start, words[len(program) :]))
    return examples


def readme_examples(text: str) -> list[Example]:
    """The commands of the README's marked shell blocks, in order."""
    lines = text.splitlines()
    examples = []
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        opening = index + 1
        while not lines[opening].strip():
            opening += 1
        assert lines[opening].strip() == "```sh", f"README.md:{opening + 1}: not a ```sh block"
        closing = lines.index("```", opening + 1)
        examples += _commands(lines[opening + 1 : closing], opening + 2, PROGRAM)
    return examples


def make_run_setup(text: str) -> list[Example]:
    """The ``manage.py`` steps of the Makefile's ``run`` target, in order."""
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", text, re.M).group(1)
    steps = []
    for line in recipe.splitlines():
        words = shlex.split(line.strip())
        while words and "=" in words[0]:  # VAR=value prefixes
            words = words[1:]
        if words[:2] == MAKE_PROGRAM:
            steps.append(Example(0, words[2:]))
    return steps


def test_markers_find_the_command_line_examples():
    examples = readme_examples(README.read_text())
    names = [example.argv[0] for example in examples]
    # Guards against a marker lost in an edit: the backtest examples are among the checked.
    assert names.count("run_backtest") >= 2 and "list_strategies" in names, names
    assert [step.argv[0] for step in make_run_setup(MAKEFILE.read_text())] == [
        "make_demo_data",
        "ensure_local_user",
        "serve",
    ]


@pytest.mark.django_db(transaction=True, databases=["default", "secmaster"])
def test_readme_examples_run_in_order_after_make_run(tmp_path, monkeypatch):
    from secmaster.management.commands import ensure_local_user

    # ensure_local_user keeps the login it creates in .local_login: not the developer's one.
    monkeypatch.setattr(ensure_local_user, "LOGIN_FILE", tmp_path / ".local_login")
    setup = [s for s in make_run_setup(MAKEFILE.read_text()) if s.argv[0] not in NOT_RUN_HERE]
    for example in setup + readme_examples(README.read_text()):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*example.argv, stdout=out, stderr=err)
        except BaseException as exc:
            pytest.fail(f"{example} failed: {type(exc).__name__}: {exc}\n{err.getvalue()}")
