"""Analyses behind the ledger entries, `ledger check`'s verdicts, conventions and normalisation."""

import dataclasses
import shutil

import pytest

from algoeff.errors import LedgerError
from algoeff.ledger import load_ledger, reduction_factor, write_ledger
from algoeff.ledger.analysis import bundled_analyses_dir, load_analyses, load_analysis
from algoeff.ledger.check import check_ledger, listed_precision, significant_figures
from algoeff.ledger.conventions import apply_convention, mixed_conventions, normalize_entries, normalize_entry

TFS_DAY = 8.64e16


@pytest.fixture(scope="module")
def report():
    return check_ledger(load_ledger())


def _row(report, publication):
    return next(r for r in report.rows if r.entry.publication == publication)


@pytest.mark.parametrize("value, figures", [(3.1, 2), (0.069, 2), (8, 1), (1620, 3), (465, 3), (0.75, 2),
                                            (17, 2), (181, 3), (1.4e20, 2), (100, 1), (0.12, 2)])
def test_significant_figures(value, figures):
    assert significant_figures(value) == figures


def test_listed_precision_of_the_seed_values():
    # 3.1 tfs-days stands for [3.05, 3.15]
    unit, value, figures, half = listed_precision(3.1 * TFS_DAY)
    assert (unit, value, figures) == ("tfs-days", 3.1, 2) and half == pytest.approx(0.05)
    # 1620: trailing zero not significant, [1615, 1625]
    assert listed_precision(1620 * TFS_DAY)[2:] == (3, pytest.approx(5))
    # a value written in FLOPs is read in FLOPs
    # 1.4e20 FLOPs is 1620.37... tfs-days: it was written in FLOPs, 2 figures
    assert listed_precision(1.4e20)[:3] == ("flops", 1.4e20, 2)
    assert listed_precision(1.23e17)[:3] == ("flops", 1.23e17, 3)


def test_every_bundled_entry_has_an_analysis(report):
    n = len(load_ledger().entries)
    assert n > 12  # the 12 seed entries and the records after 2019
    assert len(report.rows) == n
    assert all(r.analysis is not None for r in report.rows)
    assert report.unmatched == []
    assert len(list(bundled_analyses_dir().glob("*/*.toml"))) == n


def test_every_alexnet_and_translation_entry_reproduces(report):
    for row in report.rows:
        if row.entry.benchmark in ("alexnet", "seq2seq", "gnmt"):
            assert row.verdict == "reproduces", (row.entry.publication, row.recomputed, row.listed)
            assert abs(row.recomputed - row.listed) <= row.tolerance * (1 + 1e-9)
    assert report.ok


@pytest.mark.parametrize("publication, expected_tfs_days", [
    ("AlexNet", 90 * 0.77e9 * 3 * 1.28e6 / TFS_DAY),  # 3.08
    ("EfficientNet (b0)", 4 * 0.39e9 * 3 * 1.28e6 / TFS_DAY),  # 0.0693
    ("Seq2Seq (Ensemble)", 8 * 10 * 86400 * 3.52e12 * 0.33 * 5 / TFS_DAY),  # 464.6
    ("Transformer (Base)", 8 * 12 * 3600 * 9.5e12 * 0.20 / TFS_DAY),  # 7.60
    ("Transformer (Big)", 8 * 3.5 * 86400 * 9.5e12 * 0.68 / TFS_DAY),  # 180.9
    ("GNMT", 1.4e20 / TFS_DAY),  # 1620.4
    ("ResNet-50", 90 * 3.86e9 * 3 * 1.28e6 / TFS_DAY),  # 15.4
    ("EfficientNet (b1)", 71 * 0.70e9 * 3 * 1.28e6 / TFS_DAY),  # 2.21
])
def test_recomputed_values(report, publication, expected_tfs_days):
    row = _row(report, publication)
    assert row.recomputed == pytest.approx(expected_tfs_days)
    assert not row.stale_yield and row.convention_matches


@pytest.mark.parametrize("publication", ["ResNet-50", "EfficientNet (b1)"])
def test_unreproducible_entries_say_why_and_what_was_tried(report, publication):
    row = _row(report, publication)
    assert row.verdict == "differs" and row.documented and row.ok
    assert "Does not reproduce" in row.analysis.difference
    assert len(row.analysis.tried) >= 3


def test_cross_checks_alexnet_gpu_time_within_2_to_3x(report):
    row = _row(report, "AlexNet")
    gpu = next(c for c in row.cross_checks if c.estimate.method == "hardware")
    assert 1 / 3 <= gpu.ratio <= 3
    assert gpu.estimate.inputs["device"] == "GTX 580" and gpu.estimate.inputs["count"] == 2


def test_decompositions_from_the_bundled_analyses_match_table1(report):
    got = {d.publication: d.decomposition for d in report.decompositions if d.benchmark == "alexnet"}
    # Table 1: GoogLeNet 11 x 0.38 = 4.3; ... EfficientNet-b0 22 x 2.0 = 44
    assert got["GoogLeNet"].reduction_factor == pytest.approx(4.3, rel=0.02)
    assert got["ShuffleNet v2 (1x)"].fewer_epochs == pytest.approx(4.5)
    assert got["EfficientNet (b0)"].fewer_flops_per_epoch == pytest.approx(2.0, rel=0.02)
    assert set(got) == {"GoogLeNet", "MobileNet", "ShuffleNet (1x)", "ShuffleNet v2 (1x)", "EfficientNet (b0)",
                        "ResNet-18, 16 epochs (FFCV)"}
    # FFCV's counted ResNet-18: 90 / 16 = 5.6 fewer epochs, but each costs more than AlexNet's (1.0 G vs 0.77 G)
    assert got["ResNet-18, 16 epochs (FFCV)"].fewer_epochs == pytest.approx(90 / 16)
    assert got["ResNet-18, 16 epochs (FFCV)"].fewer_flops_per_epoch < 1


# -- a ledger and analyses of one's own ----------------------------------------

def _copy_tree(tmp_path, entries):
    ledger_path = tmp_path / "ledger.csv"
    write_ledger(entries, ledger_path)
    shutil.copytree(bundled_analyses_dir(), tmp_path / "analyses")
    return ledger_path


def test_a_tuned_or_edited_analysis_is_caught(tmp_path):
    ledger = load_ledger()
    path = _copy_tree(tmp_path, ledger.for_benchmark("alexnet"))
    toml = tmp_path / "analyses" / "alexnet" / "googlenet.toml"
    toml.write_text(toml.read_text().replace("epochs = 8\n", "epochs = 9\n"))
    report = check_ledger(load_ledger(path))
    row = next(r for r in report.rows if r.entry.publication == "GoogLeNet")
    # 9 epochs: 0.80 tfs-days, outside [0.705, 0.715]; and the recorded yield is stale
    assert row.verdict == "differs" and row.stale_yield and not row.documented
    assert not report.ok


def test_entry_without_analysis_and_unmatched_analyses(tmp_path):
    ledger = load_ledger()
    entries = ledger.for_benchmark("gnmt")
    renamed = dataclasses.replace(entries[1], publication="Transformer (Huge)")
    path = _copy_tree(tmp_path, [entries[0], renamed])
    report = check_ledger(load_ledger(path))
    verdicts = {r.entry.publication: r.verdict for r in report.rows}
    assert verdicts == {"GNMT": "reproduces", "Transformer (Huge)": "no analysis"}
    assert not report.ok
    assert len(report.unmatched) == len(list(bundled_analyses_dir().glob("*/*.toml"))) - 1


def test_listed_value_changed_differs(tmp_path):
    ledger = load_ledger()
    entries = ledger.for_benchmark("gnmt")
    entries[0] = dataclasses.replace(entries[0], compute_flops=1610 * TFS_DAY)
    report = check_ledger(load_ledger(_copy_tree(tmp_path, entries)))
    row = report.rows[0]
    # 1620.4 is outside [1605, 1615]
    assert row.verdict == "differs" and not row.ok


def _analysis(tmp_path, text, bench="alexnet", name="x.toml"):
    folder = tmp_path / bench
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


GOOD = '''benchmark = "alexnet"
publication = "X"
method = "counting"
[convention]
flops_per_mac = 1
[inputs]
per_example_gmacs = 1
flops_per_mac = 1
examples = 10
epochs = 2
[yields]
compute_flops = 60e9
'''


@pytest.mark.parametrize("text, match", [
    (GOOD.replace('method = "counting"', 'method = "guessing"'), r"method == 'guessing'. Possible values are: counting"),
    (GOOD.replace("epochs = 2", "epochs = 2\nlayers = 3"), r"unknown input 'layers' for method 'counting'"),
    (GOOD.replace("epochs = 2", "epochs = -2"), r"epochs == -2, must be > 0"),
    (GOOD.replace("[convention]\nflops_per_mac = 1", "[convention]\nflops_per_mac = 3"), r"flops_per_mac == 3"),
    (GOOD.replace("[convention]\nflops_per_mac = 1", "[convention]\nflops_per_mac = 2"),
     r"\[convention\] says 2 FLOPs per multiply-add.*inputs give 1 FLOP per multiply-add"),
    (GOOD.replace('publication = "X"\n', ""), r"publication is missing"),
    ("colour = 'red'\n" + GOOD, r"unknown key 'colour'"),
    (GOOD.replace("epochs = 2", "epochs = 2\nfraction_of_run = 1.5"), r"fraction_of_run == 1.5, must be in \(0, 1\]"),
    ("benchmark = ", r"not valid TOML"),
])
def test_bad_analysis_files(tmp_path, text, match):
    path = _analysis(tmp_path, text)
    with pytest.raises(LedgerError, match=match) as info:
        load_analysis(path).recompute()
    assert str(path) in str(info.value)


def test_analysis_folder_rules(tmp_path):
    assert load_analysis(_analysis(tmp_path, GOOD)).recompute().total_flops == pytest.approx(60e9)
    _analysis(tmp_path, GOOD, name="y.toml")
    with pytest.raises(LedgerError, match="a second analysis of 'X'"):
        load_analyses(tmp_path)
    (tmp_path / "alexnet" / "y.toml").unlink()
    _analysis(tmp_path, GOOD, bench="gnmt")
    with pytest.raises(LedgerError, match=r"benchmark == 'alexnet', but the file is under gnmt/"):
        load_analyses(tmp_path)
    with pytest.raises(LedgerError, match="no such analyses folder"):
        load_analyses(tmp_path / "nowhere")


# -- conventions and normalisation -------------------------------------------

def test_bundled_conventions_mix_only_in_seq2seq():
    ledger = load_ledger()
    assert mixed_conventions(ledger.for_benchmark("alexnet")) is None
    assert mixed_conventions(ledger.for_benchmark("gnmt")) is None
    mix = mixed_conventions(ledger.for_benchmark("seq2seq"))
    assert "utilization discount 0.33, 5 models" in mix and "no utilization discount, 1 model" in mix


def test_normalize_entries():
    ledger = load_ledger()
    seq = ledger.for_benchmark("seq2seq")
    base, transformer = normalize_entries(seq)
    # 465 tfs-days / 0.33 (discount removed) / 5 (one model of the ensemble)
    assert base.compute_flops == pytest.approx(seq[0].compute_flops / 0.33 / 5)
    assert transformer.compute_flops == seq[1].compute_flops
    assert (base.flops_per_mac, base.utilization_discount, base.models) == (2, None, 1)
    assert "normalised from" in base.notes
    # 61 as listed -> 35 like for like
    assert reduction_factor(transformer, base) == pytest.approx(465 / 0.33 / 5 / 8)
    vision = ledger.for_benchmark("alexnet")
    assert normalize_entry(vision[0]).compute_flops == pytest.approx(2 * vision[0].compute_flops)
    # within one convention the reduction factors do not change
    norm = normalize_entries(vision)
    assert reduction_factor(norm[-1], norm[0]) == pytest.approx(reduction_factor(vision[-1], vision[0]))


def test_normalize_unknown_convention_and_apply_convention():
    entry = load_ledger().for_benchmark("alexnet")[0]
    unknown = dataclasses.replace(entry, flops_per_mac=None, source_line=7)
    with pytest.raises(LedgerError, match=r"alexnet/AlexNet: .*unknown.*\(line 7\)"):
        normalize_entry(unknown)
    entries, warning = apply_convention([entry, unknown], normalize=False)
    assert "mixes counting conventions" in warning and "--normalize" in warning
    entries, warning = apply_convention([entry], normalize=True)
    assert warning is None and entries[0].flops_per_mac == 2
