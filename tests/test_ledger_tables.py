"""Generated tables against the seed README's hand-kept ones."""

import pathlib
import re

import pytest

from algoeff import cli
from algoeff.errors import LedgerError
from algoeff.ledger import END_MARKER, START_MARKER, load_ledger, render_tables, write_tables

SEED_README = pathlib.Path(__file__).parent / "data" / "ledger" / "ai-and-efficiency-README.md"
_LINK = re.compile(r"^\[(.*)\]\((.*)\)$")


def _cell(text):
    match = _LINK.match(text.strip())
    return (match.group(1), match.group(2)) if match else (text.strip(), "")


def parse_tables(markdown):
    """{heading (lower case): (capability, [(pub link, compute, factor, analysis, analysis link, date)])}."""
    sections, current = {}, None
    for line in markdown.splitlines():
        if line.startswith("#### "):
            current = sections.setdefault(line[5:].strip().lower(), ["", []])
        elif current is not None and line.startswith("*") and line.endswith("*") and not current[1]:
            current[0] = line.strip("*")
        elif current is not None and "](" in line and line.count("|") >= 4:
            cells = [c for c in line.strip().strip("|").split("|")]
            (_, pub_link), compute, factor, (analysis, analysis_link), date = (
                _cell(cells[0]), float(cells[1]), float(cells[2]), _cell(cells[3]), cells[4].strip())
            current[1].append((pub_link, compute, factor, analysis, analysis_link, date))
    return {k: (cap, rows) for k, (cap, rows) in sections.items()}


def test_seed_values_reproduce_the_readme_tables_row_for_row():
    readme = parse_tables(SEED_README.read_text(encoding="utf-8"))
    ledger = load_ledger(corrected=False)
    generated = parse_tables(render_tables(ledger))
    # the seed's sections first, in its order, then the benchmarks added after 2019
    assert list(generated)[:len(readme)] == list(readme)
    assert list(generated)[len(readme):] == ["cifar-10 94%-level performance", "gpt-2 (124m)-level language modelling"]
    later = {e.publication_link for e in ledger.entries[12:]}
    for heading, (capability, rows) in readme.items():
        assert generated[heading][0] == capability
        seed_rows = [r for r in generated[heading][1] if r[0] not in later]
        assert seed_rows == rows  # links, values, analyses, dates
    assert sum(len(rows) for _, rows in readme.values()) == 12


def test_tables_have_the_readme_structure():
    text = render_tables(load_ledger(corrected=False))
    lines = text.splitlines()
    assert lines[:5] == [
        "#### AlexNet-level performance",
        "*79.1% top 5 accuracy on ImageNet*",
        "",
        "| Publication| Compute(tfs-s/days)| Reduction Factor| Analysis| Date |",
        "| ----------------------- | ------------- | ------------ | ----------------------- | ------------ |",
    ]
    assert lines[5] == ("| [AlexNet](https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-"
                        "convolutional-neural-networks.pdf)|3.1|1|AI and Efficiency| 6/1/2012|")


def test_corrected_tables_carry_the_errata():
    rows = parse_tables(render_tables(load_ledger()))["seq2seq-level performance"][1]
    # Seq2Seq 1/10/2014 -> 9/10/2014; Transformer 1/12/2017 -> 6/12/2017, link to 1706.03762
    assert [r[5] for r in rows] == ["9/10/2014", "6/12/2017"]
    assert rows[1][4] == "https://arxiv.org/abs/1706.03762"


def test_cli_tables_prints_and_writes_between_markers(tmp_path, capsys):
    assert cli.main(["ledger", "tables", "--seed-values"]) == 0
    printed = capsys.readouterr().out
    assert printed == render_tables(load_ledger(corrected=False))

    doc = tmp_path / "README.md"
    doc.write_text(f"# Title\n\nintro\n\n{START_MARKER}\nold tables\n{END_MARKER}\n\n## After\ntail\n")
    assert cli.main(["ledger", "tables", "--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nintro\n\n" + START_MARKER)
    assert text.endswith(END_MARKER + "\n\n## After\ntail\n")
    assert "old tables" not in text and render_tables(load_ledger()) in text
    # idempotent: a second run changes nothing
    assert cli.main(["ledger", "tables", "--write", str(doc)]) == 0
    assert doc.read_text() == text


def test_write_creates_a_new_file_with_markers(tmp_path):
    doc = tmp_path / "tables.md"
    write_tables(load_ledger(), doc)
    text = doc.read_text()
    assert text.startswith(START_MARKER) and text.rstrip().endswith(END_MARKER)


@pytest.mark.parametrize("content, missing", [
    ("# no markers\n", START_MARKER),
    (f"{START_MARKER}\nonly the start\n", END_MARKER),
])
def test_write_refuses_a_file_without_markers(tmp_path, capsys, content, missing):
    doc = tmp_path / "README.md"
    doc.write_text(content)
    assert cli.main(["ledger", "tables", "--write", str(doc)]) == 1
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith(f"LedgerError: {doc}: missing marker {missing!r}")
    assert doc.read_text() == content


def test_write_refuses_markers_out_of_order(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(f"{END_MARKER}\n{START_MARKER}\n")
    with pytest.raises(LedgerError, match="comes before"):
        write_tables(load_ledger(), doc)
