"""Guards on the package's shape: public names, command modules, layering."""

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import algoeff
from algoeff import cli

SRC = pathlib.Path(algoeff.__file__).parent

# Each layer may import itself and the layers listed before it, never one after it.
LAYERS = ["units", "errors", "files", "flops", "estimate", "ledger", "trend", "track",
          "integrations", "workloads", "study", "records", "report", "cli"]


@pytest.mark.parametrize("name", sorted(algoeff._EXPORTS))
def test_every_public_name_resolves(name):
    assert getattr(algoeff, name) is not None


def test_public_list_is_sorted_and_complete():
    assert algoeff.__all__ == sorted(algoeff._EXPORTS)


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_every_listed_command_module_exists(name):
    module = importlib.import_module(f"algoeff.cli.{name}")
    assert callable(module.register)


def _layer(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imported_layers(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            continue  # relative imports stay inside their own folder
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "algoeff" and len(parts) > 1:
                yield parts[1], node.lineno


def test_lower_layers_never_import_higher_ones():
    offences = []
    for path in SRC.rglob("*.py"):
        layer = _layer(path)
        if layer not in LAYERS:
            continue
        for imported, line in _imported_layers(path):
            if imported in LAYERS and LAYERS.index(imported) > LAYERS.index(layer):
                offences.append(f"{path.relative_to(SRC)}:{line} imports algoeff.{imported}")
    assert offences == []


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"algoeff {algoeff.__version__}"


def test_unknown_command_is_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice" in err[0]


def test_ledger_and_trend_commands_do_not_import_torch():
    # importing torch costs seconds; commands that never count FLOPs must not pay it
    code = ("import sys, contextlib, io\n"
            "from algoeff.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['ledger', 'show']) == 0\n"
            "    assert main(['trend', '--benchmark', 'alexnet', '--json']) == 0\n"
            "    assert main(['estimate', 'hardware', '--device', 'V100', '--count', '1', '--hours', '1']) == 0\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_algoeff_never_imports_a_trainer_framework():
    # the integrations import lightning / transformers only when their own module is imported
    code = ("import sys, algoeff, algoeff.integrations, algoeff.track\n"
            "[getattr(algoeff, name) for name in algoeff.__all__]\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'pytorch_lightning', "
            "'transformers', 'accelerate'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
