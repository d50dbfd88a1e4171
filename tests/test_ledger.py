"""The ledger: loading both formats, errata, frontier, reduction factors, writing."""

import csv
import dataclasses
import datetime as dt
import math
import pathlib

import pytest

from algoeff.errors import LedgerError
from algoeff.ledger import (
    Benchmark,
    Entry,
    bundled_ledger_path,
    frontier,
    load_ledger,
    reduction_factor,
    write_ledger,
)
from algoeff.units import FLOPS_PER_TFS_DAY

# The seed ledger, copied verbatim from openai/ai-and-efficiency.
SEED_CSV = pathlib.Path(__file__).parent / "data" / "ledger" / "efficiency_sota.csv"

# tf-s-days as the seed CSV lists them, in file order
SEED_TFS_DAYS = [3.1, 0.71, 0.28, 0.15, 0.12, 0.069, 17, 0.75, 465, 8, 1620, 181]


def test_bundled_ledger_starts_with_the_twelve_seed_entries():
    ledger = load_ledger(corrected=False)
    assert ledger.format == "project"
    seed, later = ledger.entries[:12], ledger.entries[12:]
    assert [e.compute_flops / FLOPS_PER_TFS_DAY for e in seed] == pytest.approx(SEED_TFS_DAYS)
    assert [b.key for b in ledger.used_benchmarks()] == ["alexnet", "resnet50", "seq2seq", "gnmt", "cifar10-94",
                                                         "gpt2-speedrun"]
    # everything after the seed rows is a record after 2019 (issue 14)
    assert later and all(e.date > dt.date(2019, 5, 28) or e.benchmark == "cifar10-94" for e in later)


def test_seed_csv_loads_verbatim_and_matches_the_bundled_ledger():
    seed = load_ledger(SEED_CSV, corrected=False)
    bundled = load_ledger(corrected=False)
    assert seed.format == "seed"
    assert len(seed.entries) == 12
    for s, b in zip(seed.entries, bundled.entries):
        assert (s.benchmark, s.publication, s.date, s.publication_link) == (
            b.benchmark, b.publication, b.date, b.publication_link)
        assert s.compute_flops == pytest.approx(b.compute_flops, rel=1e-12)
        assert s.listed_reduction_factor == b.listed_reduction_factor
    # 0.069 tf-s-days x 8.64e16 FLOPs each
    assert seed.entries[5].compute_flops == pytest.approx(0.069 * 8.64e16)
    assert seed.entries[0].source_line == 2


@pytest.mark.parametrize("name", ["alexnet", "AlexNet", "ALEXNET", "resnet-50", "ResNet-50", "resnet50"])
def test_benchmark_lookup_by_key_or_alias_any_case(name):
    ledger = load_ledger()
    assert ledger.benchmark(name).key in {"alexnet", "resnet50"}


def test_unknown_benchmark_lists_the_known_ones():
    with pytest.raises(LedgerError, match=r"Unknown benchmark 'mnist'\. Possible values are: alexnet, resnet50"):
        load_ledger().benchmark("mnist")


def test_bundled_benchmarks_carry_the_issue_capabilities():
    ledger = load_ledger()
    assert ledger.benchmark("alexnet").capability == "79.1% top 5 accuracy on ImageNet"
    assert ledger.benchmark("resnet50").threshold == 92.9
    assert ledger.benchmark("seq2seq").capability == "34.8 BLEU on WMT-14 EN-FR"
    assert ledger.benchmark("gnmt").threshold == 39.92
    assert all(ledger.benchmark(k).direction == "higher" for k in ("alexnet", "resnet50", "seq2seq", "gnmt"))


def test_any_seed_benchmark_name_loads_as_an_adhoc_benchmark(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text(
        "Metric,Publication Date,Publication,Publication link,Compute (teraflops-s/days),"
        "Reduction Factor,Analysis,Analysis link\n"
        "CIFAR-10 94%,3/1/2018,DAWNBench,https://example.org/a,0.5,1,Mine,\n"
        "CIFAR-10 94%,3/1/2019,Fast,https://example.org/b,0.05,10,Mine,\n",
        encoding="utf-8",
    )
    ledger = load_ledger(path)
    bench = ledger.benchmark("cifar-10 94%")
    assert bench.title == "CIFAR-10 94%-level performance"
    assert [e.benchmark for e in ledger.entries] == [bench.key, bench.key]


# -- errata -------------------------------------------------------------------

CORRECTED_DATES = {
    "Seq2Seq (Ensemble)": (dt.date(2014, 1, 10), dt.date(2014, 9, 10)),
    "ResNet-50": (dt.date(2015, 1, 10), dt.date(2015, 12, 10)),
    "GNMT": (dt.date(2016, 1, 26), dt.date(2016, 9, 26)),
    "Transformer (Base)": (dt.date(2017, 1, 12), dt.date(2017, 6, 12)),
    "Transformer (Big)": (dt.date(2017, 1, 12), dt.date(2017, 6, 12)),
}


@pytest.mark.parametrize("path", [None, SEED_CSV])
def test_errata_fix_the_four_lost_months_and_are_recorded(path):
    seed = {e.publication: e for e in load_ledger(path, corrected=False).entries}
    fixed = {e.publication: e for e in load_ledger(path).entries}
    for publication, (listed, corrected) in CORRECTED_DATES.items():
        assert seed[publication].date == listed
        assert seed[publication].corrections == ()
        assert fixed[publication].date == corrected
        (correction,) = [c for c in fixed[publication].corrections if c.field == "date"]
        assert (correction.seed, correction.corrected) == (listed, corrected)
        assert "arXiv" in correction.source
    untouched = [p for p in fixed if p not in CORRECTED_DATES]
    assert all(fixed[p].date == seed[p].date for p in untouched)


def test_erratum_fixes_the_attention_analysis_link():
    for entry in load_ledger().entries:
        if entry.analysis == "Attention is all you need":
            assert entry.analysis_link == "https://arxiv.org/abs/1706.03762"
            assert "attention-analysis-link" in [c.id for c in entry.corrections]
    seed_links = {e.analysis_link for e in load_ledger(corrected=False).entries
                  if e.analysis == "Attention is all you need"}
    assert seed_links == {"https://arxiv.org/abs/1807.11164"}


def test_erratum_leaves_an_already_right_value_alone(tmp_path):
    path = tmp_path / "ledger.csv"
    entry = load_ledger().for_benchmark("gnmt")[0]  # corrected already
    write_ledger([entry], path)
    (reloaded,) = load_ledger(path).entries
    assert reloaded.date == dt.date(2016, 9, 26)
    assert [c.id for c in reloaded.corrections] == []


def test_entries_carry_their_counting_conventions():
    by_pub = {e.publication: e for e in load_ledger().entries}
    assert by_pub["AlexNet"].flops_per_mac == 1 and by_pub["AlexNet"].method == "counting"
    seq = by_pub["Seq2Seq (Ensemble)"]
    assert (seq.utilization_discount, seq.models, seq.method, seq.flops_per_mac) == (0.33, 5, "hardware", 2)
    big = by_pub["Transformer (Big)"]
    assert (big.utilization_discount, big.models, big.method) == (None, 1, "hardware")
    assert all(e.provenance for e in by_pub.values())


# -- frontier and reduction factor ---------------------------------------------

def _entry(date, tfs, pub=None, bench="alexnet"):
    return Entry(benchmark=bench, publication=pub or f"p{date}", publication_link="",
                 date=dt.date.fromisoformat(date), compute_flops=tfs * FLOPS_PER_TFS_DAY)


def test_frontier_keeps_entries_strictly_below_every_earlier_one():
    entries = [
        _entry("2015-01-01", 5, "worse"),  # after the baseline, more compute
        _entry("2012-01-01", 4, "base"),
        _entry("2016-01-01", 2, "better"),
        _entry("2017-01-01", 2, "tie"),  # equal is not strictly below
        _entry("2018-01-01", 1, "best"),
    ]
    assert [e.publication for e in frontier(entries)] == ["base", "better", "best"]


def test_frontier_refuses_mixed_benchmarks_and_nothing():
    with pytest.raises(LedgerError, match="several benchmarks"):
        frontier([_entry("2012-01-01", 1), _entry("2013-01-01", 1, bench="gnmt")])
    with pytest.raises(LedgerError, match="no entries"):
        frontier([])


def test_reduction_factor_recomputed_from_compute():
    alexnet = {e.publication: e for e in load_ledger().for_benchmark("alexnet")}
    effnet, base = alexnet["EfficientNet (b0)"], alexnet["AlexNet"]
    # 3.1 / 0.069 = 44.93, listed as 44
    assert reduction_factor(effnet, base) == pytest.approx(3.1 / 0.069)
    assert round(reduction_factor(effnet, base), 1) == 44.9
    assert effnet.listed_reduction_factor == 44


# -- writing --------------------------------------------------------------------

def test_write_then_load_round_trips_every_field(tmp_path):
    path = tmp_path / "ledger.csv"
    original = load_ledger(corrected=False)
    write_ledger(original, path)
    again = load_ledger(path, corrected=False)
    strip = lambda e: dataclasses.replace(e, source_line=None)  # noqa: E731
    assert [strip(e) for e in again.entries] == [strip(e) for e in original.entries]
    assert not (tmp_path / "benchmarks.toml").exists()  # only bundled benchmarks used


def test_write_defines_custom_benchmarks_beside_the_ledger(tmp_path):
    bench = Benchmark(key="mnist1d", title="MNIST-1D-level performance", capability="90% test accuracy",
                      metric="test accuracy (%)", threshold=90.0, direction="higher", aliases=("MNIST-1D",))
    entries = [_entry("2020-01-01", 1e-4, "mlp", "mnist1d"), _entry("2021-01-01", 5e-5, "cnn", "mnist1d")]
    path = tmp_path / "ledger.csv"
    write_ledger(entries, path, benchmarks=[bench])
    ledger = load_ledger(path)
    assert ledger.benchmark("MNIST-1D") == bench
    assert [e.publication for e in ledger.for_benchmark("mnist1d")] == ["mlp", "cnn"]


def test_write_refuses_an_unknown_benchmark_and_writes_nothing(tmp_path):
    path = tmp_path / "ledger.csv"
    with pytest.raises(LedgerError, match="unknown benchmark 'mnist1d'"):
        write_ledger([_entry("2020-01-01", 1, bench="mnist1d")], path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)"])
def test_formula_like_text_is_neutralised_on_write_and_restored_on_read(tmp_path, text):
    path = tmp_path / "ledger.csv"
    write_ledger([dataclasses.replace(_entry("2012-01-01", 1), publication=text, notes=text)], path)
    header, row = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    cells = dict(zip(header, row))
    assert cells["publication"] == cells["notes"] == f"'{text}"
    (entry,) = load_ledger(path).entries
    assert entry.publication == text and entry.notes == text


def test_bundled_ledger_path_is_package_data():
    assert bundled_ledger_path().name == "ledger.csv"
    assert math.isclose(load_ledger().for_benchmark("gnmt")[0].compute_flops, 1620 * FLOPS_PER_TFS_DAY)
