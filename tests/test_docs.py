"""Every Python block in README.md and docs/*.rst runs, as written.

Blocks are executed one by one in a fresh namespace (``__name__`` is
``"__main__"``, as in a script) in an empty working directory.  A literal
block in the docs that parses as Python must be a ``.. code-block:: python``
(and so runs here); shell commands and printed output use ``::`` or
``.. code-block:: text``.
"""

import ast
import re
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

ROOT = Path(ROOT)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]

pytestmark = pytest.mark.slow


def _indented_block(lines, start):
    """The indented block after line ``start`` (a ``::`` or directive line)."""
    i = start + 1
    while i < len(lines) and (
        not lines[i].strip() or lines[i].lstrip().startswith(":")
    ):
        i += 1  # blank lines and directive options
    block = []
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
        block.append(lines[i])
        i += 1
    return textwrap.dedent("\n".join(block)).strip("\n")


def blocks(path):
    """(line number, kind, code) of every code block on a page."""
    text = path.read_text()
    if path.suffix == ".md":
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            yield text[: m.start()].count("\n") + 1, m.group(1) or "text", m.group(2)
        return
    lines = text.splitlines()
    for n, line in enumerate(lines):
        directive = re.match(r"\s*\.\. code-block::\s*(\w+)", line)
        if directive:
            yield n + 1, directive.group(1), _indented_block(lines, n)
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            yield n + 1, "literal", _indented_block(lines, n)


def python_blocks():
    return [
        pytest.param(code, id=f"{path.name}:{line}")
        for path in PAGES
        for line, kind, code in blocks(path)
        if kind == "python"
    ]


def _parses(code):
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def test_python_in_literal_blocks_is_marked_as_python():
    unmarked = [
        f"{path.name}:{line}"
        for path in PAGES
        for line, kind, code in blocks(path)
        if kind == "literal" and _parses(code) and re.search(r"\w\(|import ", code)
    ]
    assert unmarked == []


def test_every_test_a_promise_names_exists():
    text = (ROOT / "docs" / "promises.rst").read_text()
    named = re.findall(r"``(tests/\w+\.py)::([\w:]+)``", text)
    assert len(named) >= 10
    for module, path in named:
        source = (ROOT / module).read_text()
        *classes, function = path.split("::")
        for cls in classes:
            assert re.search(rf"^class {cls}\b", source, re.M), (module, cls)
        assert re.search(rf"^\s*def {function}\(", source, re.M), (module, function)


def test_there_are_blocks_to_run():
    assert len(python_blocks()) >= 8


@pytest.mark.parametrize("code", python_blocks())
def test_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<docs block>", "exec"), {"__name__": "__main__"})
