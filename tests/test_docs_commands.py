"""The docs quote real output: run every documented command and compare the lines they quote.

Markers (in docs/ledger.md, docs/estimation.md and the README's ledger, trend and
estimate tour lines):

    $ algoeff CMD ...          a command (indented 4), run in a fresh folder per document,
    quoted output line         followed by indented lines that must appear in its output
                               (stdout and stderr; whitespace-insensitive; "..." matches anything)
    # file: NAME               an indented block written to NAME before the next command
    algoeff CMD ...   # 3.08 tfs-days   (README) a command whose comment quotes a figure of its output

Each document's commands run in order in one temporary folder holding a copy of the
bundled ledger as ledger.csv; `python examples/X.py` runs the repository's example.
"""

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from algoeff.ledger import bundled_ledger_path

ROOT = pathlib.Path(__file__).parents[1]
DOCS = ["docs/ledger.md", "docs/estimation.md", "README.md"]
# the README lines this test owns (and the example a tour command may need first)
TOUR = ("algoeff ledger", "algoeff trend", "algoeff estimate", "python examples/")


def parse(text: str, *, readme: bool = False):
    """Steps: ("file", name, text), ("run", argv-text, [quoted lines])."""
    steps, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        command = re.match(r"^    \$ (.+)$", line)
        file = re.match(r"^    # file: (\S+)$", line)
        figure = re.match(r"^    (algoeff \S.*?)\s+# (.+)$", line) if readme else None
        if command or file:
            block = []
            i += 1
            while i < len(lines) and lines[i].startswith("    ") and not re.match(r"^    (\$ |# file: )", lines[i]):
                block.append(lines[i][4:])
                i += 1
            if file:
                steps.append(("file", file.group(1), "\n".join(block) + "\n"))
            else:
                steps.append(("run", command.group(1), block))
            continue
        if figure:
            steps.append(("run", figure.group(1), [figure.group(2)]))
        i += 1
    if readme:
        steps = [s for s in steps if s[0] == "run" and s[1].startswith(TOUR)]
    return steps


def _argv(command: str) -> list[str]:
    words = shlex.split(command, comments=True)
    if words[0] == "algoeff":
        return [sys.executable, "-m", "algoeff.cli", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *[str(ROOT / w) if w.startswith("examples/") else w for w in words[1:]]]
    raise AssertionError(f"documented command {command!r}: only algoeff and python commands are run")


def _matches(quoted: str, output: str) -> bool:
    norm = " ".join(quoted.split())
    pattern = ".*".join(re.escape(part) for part in norm.split("..."))
    return any(re.search(pattern, " ".join(line.split())) for line in output.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_documented_commands_print_what_the_docs_quote(doc, tmp_path):
    steps = parse((ROOT / doc).read_text(encoding="utf-8"), readme=doc == "README.md")
    runs = [s for s in steps if s[0] == "run"]
    assert runs, f"{doc}: no documented commands found"
    shutil.copy(bundled_ledger_path(), tmp_path / "ledger.csv")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path]), "COLUMNS": "200",
           "OMP_NUM_THREADS": "1"}
    for step in steps:
        if step[0] == "file":
            (tmp_path / step[1]).write_text(step[2], encoding="utf-8")
            continue
        _, command, quoted = step
        done = subprocess.run(_argv(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert "Traceback" not in output, f"{doc}: `{command}`:\n{output}"
        missing = [q for q in quoted if not _matches(q, output)]
        assert not missing, f"{doc}: `{command}` does not print {missing}; it printed:\n{output}"


def test_the_parser_reads_the_markers():
    text = ("x\n\n    $ algoeff trend --benchmark alexnet\n    reduction factor 44.9x\n\n"
            "    # file: a.csv\n    benchmark,date\n\n    algoeff estimate ops --x 1   # 3.08 tfs-days\n")
    assert parse(text) == [("run", "algoeff trend --benchmark alexnet", ["reduction factor 44.9x"]),
                           ("file", "a.csv", "benchmark,date\n")]
    assert parse(text, readme=True) == [("run", "algoeff trend --benchmark alexnet", ["reduction factor 44.9x"]),
                                        ("run", "algoeff estimate ops --x 1", ["3.08 tfs-days"])]
    assert _matches("added 'X' (b, ...) to my.csv", "added 'X' (b, 2026-01-01) to my.csv at line 2")
    assert _argv("python examples/track_to_ledger.py .   # two recipes")[-1] == "."
