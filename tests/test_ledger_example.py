"""examples/custom_ledger.py runs and its ledger loads back, so the example never rots."""

import pathlib
import runpy
import sys

from algoeff import cli
from algoeff.ledger import load_ledger

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "custom_ledger.py"


def test_custom_ledger_example(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(tmp_path)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "#### Digits-95-level performance" in out
    assert "frontier: MLP, plain SGD, MLP, Adam, CNN, Adam, CNN, one-cycle" in out
    ledger = load_ledger(tmp_path / "ledger.csv")
    assert ledger.benchmark("digits95").threshold == 95.0
    assert len(ledger.entries) == 5
    assert cli.main(["ledger", "validate", "--ledger", str(tmp_path / "ledger.csv")]) == 0
