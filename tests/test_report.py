"""The report site without a browser: pages, escaping, study input checks, atomic output, CLI.

The browser checks (values shown, charts loaded, scripts not run) are in test_report_browser.py;
``study_results`` and ``write_study`` here build study folders shaped like ``algoeff study --out``.
"""

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from algoeff.cli import main
from algoeff.errors import ReportError
from algoeff.ledger import Entry, load_ledger, write_ledger
from algoeff.report import MARKER, build_site, load_study
from algoeff.report import site as site_module
from algoeff.units import from_flops

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL_SCRIPT = "<script>window.__pwned=1</script>"
EVIL_IMG = "<img src=x onerror=window.__pwned=2>"


# -- fixtures: a study folder shaped like `algoeff study --out` writes ----------

def study_results() -> dict:
    """results.json of a small study of three recipes (one never reaches the target)."""
    def curve(recipe, seed, best, scale, top):
        points = [{"flops": scale * k, "test_accuracy": round(top * (1 - 0.5 ** k), 4)} for k in range(1, 9)]
        return {"recipe": recipe, "seed": seed, "config": {"lr": 0.01 * (seed + 1)}, "best": best,
                "points": points}

    return {
        "workload": "mnist1d", "title": "MNIST-1D (quick)", "quick": True,
        "target": {"metric": "test_accuracy", "threshold": 0.8, "higher_is_better": True},
        "entries": [
            {"recipe": "mlp-2012", "title": "MLP, SGD", "publication": "Baseline MLP",
             "link": "https://example.org/mlp", "date": "2012-06-01", "is_baseline": True,
             "compute_to_target_flops": 4.0e9, "ci95_flops": [3.5e9, 4.6e9], "seeds_reached": 3, "seeds": 3,
             "reached": True, "reduction_factor": 1.0, "best_config": {"lr": 0.1}, "trials": 6,
             "tuning_compute_flops": 3.0e10},
            {"recipe": "cnn-2015", "title": "CNN, Adam", "publication": "Kingma & Ba 2015",
             "link": "https://arxiv.org/abs/1412.6980", "date": "2015-01-01", "is_baseline": False,
             "compute_to_target_flops": 1.0e9, "ci95_flops": [0.8e9, 1.3e9], "seeds_reached": 3, "seeds": 3,
             "reached": True, "reduction_factor": 4.0, "best_config": {"lr": 0.001}, "trials": 6,
             "tuning_compute_flops": 1.2e10},
            {"recipe": "rnn-2014", "title": "RNN", "publication": "Never reaches", "link": "",
             "date": "2014-01-01", "is_baseline": False, "compute_to_target_flops": None, "ci95_flops": None,
             "seeds_reached": 0, "seeds": 3, "reached": False, "reduction_factor": None,
             "best_config": {"lr": 0.01}, "trials": 6, "tuning_compute_flops": 2.0e10},
        ],
        "frontier": ["mlp-2012", "cnn-2015"],
        "doubling_time_months": 15.0, "doubling_time_ci95_months": None,
        "total_compute_flops": 6.2e10,
        "curves": [curve("mlp-2012", 0, True, 1e9, 0.9), curve("mlp-2012", 1, False, 1e9, 0.85),
                   curve("cnn-2015", 0, True, 2.5e8, 0.95), curve("rnn-2014", 0, True, 1e9, 0.7)],
        "plots": {"accuracy_vs_compute": "accuracy_vs_compute.png", "compute_vs_date": "compute_vs_date.png"},
        "table": "table.md", "ledger": "ledger.csv", "benchmarks": "benchmarks.toml", "store": "runs.sqlite",
    }


def write_study(folder: Path, data: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(data or study_results()), encoding="utf-8")
    (folder / "table.md").write_text("| recipe | compute |\n|---|---|\n| mlp | 4e9 |\n", encoding="utf-8")
    return folder


def evil_ledger(folder: Path) -> Path:
    """A project-format ledger whose publication names carry markup and script."""
    path = folder / "evil.csv"
    entries = [
        Entry(benchmark="alexnet", publication=EVIL_SCRIPT, publication_link="javascript:alert(1)",
              date=dt.date(2012, 6, 1), compute_flops=2.0e17, listed_reduction_factor=1.0,
              analysis='AI "and" <b>Efficiency</b>', analysis_link='https://example.org/a"b', method="counting"),
        Entry(benchmark="alexnet", publication=EVIL_IMG, publication_link="https://example.org/x?a=1&b=2",
              date=dt.date(2015, 1, 1), compute_flops=5.0e16, listed_reduction_factor=4.0),
        Entry(benchmark="alexnet", publication="Costs $\\frac{1}{0}$ & more", publication_link="",
              date=dt.date(2018, 1, 1), compute_flops=1.0e16, listed_reduction_factor=20.0),
    ]
    write_ledger(entries, path)
    return path


class Cells(HTMLParser):
    """The text of every cell of the table with id ``table_id``, row by row."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def cells(path: Path, table_id: str) -> list[list[str]]:
    parser = Cells(table_id)
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.rows


def number(text: str) -> float:
    return float(text.replace("×", ""))


# -- the site from the bundled ledger ---------------------------------------

@pytest.fixture(scope="module")
def bundled_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    study = write_study(root / "study")
    return build_site(root / "site", studies=[study]), load_ledger()


def test_every_bundled_benchmark_has_a_page_and_a_chart(bundled_site):
    site, ledger = bundled_site
    keys = [b.key for b in ledger.used_benchmarks()]
    assert site.benchmarks == keys == ["alexnet", "resnet50", "seq2seq", "gnmt", "cifar10-94", "gpt2-speedrun"]
    for key in keys:
        folder = site.index.parent / "benchmark" / key
        chart = (folder / "trend.png").read_bytes()
        assert chart.startswith(PNG_MAGIC) and len(chart) > 20_000
        assert 'src="trend.png"' in (folder / "index.html").read_text(encoding="utf-8")
    assert (site.index.parent / MARKER).is_file()
    # a published site is world-readable (temp files start owner-only)
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in [site.index.parent, *site.index.parent.rglob("*")])


def test_leaderboard_cells_match_the_ledger(bundled_site):
    site, ledger = bundled_site
    for bench in ledger.used_benchmarks():
        entries = ledger.for_benchmark(bench.key)
        header, *rows = cells(site.index.parent / "benchmark" / bench.key / "index.html", "leaderboard")
        assert header[:5] == ["Frontier", "Date", "Publication", "Compute (tf-s-days)", "Compute (FLOPs)"]
        assert len(rows) == len(entries)
        for row, e in zip(rows, entries):
            assert row[1] == e.date.isoformat() and row[2].startswith(e.publication)
            assert number(row[3]) == pytest.approx(from_flops(e.compute_flops), rel=5e-3)
            assert number(row[4]) == pytest.approx(e.compute_flops, rel=5e-3)
            assert number(row[6]) == pytest.approx(entries[0].compute_flops / e.compute_flops, rel=5e-3)
            if e.listed_reduction_factor is not None:
                assert number(row[5]) == pytest.approx(e.listed_reduction_factor, rel=5e-3)


def test_benchmark_page_leads_with_reduction_factor_and_doubling_time(bundled_site):
    from algoeff.trend import fit_trend

    site, ledger = bundled_site
    text = (site.index.parent / "benchmark" / "alexnet" / "index.html").read_text(encoding="utf-8")
    fit = fit_trend(ledger.for_benchmark("alexnet"))
    lo, hi = fit.doubling_time_ci95_months
    top = text[: text.index("Leaderboard")]
    assert f"{fit.reduction_factor:.3g}×" in top
    assert f"{fit.doubling_time_months:.1f} months" in top
    assert f"95% CI {lo:.1f} to {hi:.1f} months" in top
    # two frontier points: the CI is undefined and the page says why
    gnmt = (site.index.parent / "benchmark" / "gnmt" / "index.html").read_text(encoding="utf-8")
    assert "95% CI undefined (see below)" in gnmt and "here undefined: 2 frontier points" in gnmt


def test_index_lists_benchmarks_and_the_study(bundled_site):
    site, ledger = bundled_site
    header, *rows = cells(site.index, "benchmarks")
    assert [r[0] for r in rows] == [b.title for b in ledger.used_benchmarks()]
    header, *rows = cells(site.index, "studies")
    assert rows == [["MNIST-1D (quick)", "test_accuracy >= 0.8", "2 / 3", "15.0", "6.20e+10", "quick"]]
    text = site.index.read_text(encoding="utf-8")
    for page in site.pages[1:]:
        assert f'href="{page.relative_to(site.index.parent).as_posix()}"' in text


def test_study_page_table_and_charts(bundled_site):
    site, _ = bundled_site
    folder = site.index.parent / "study" / "mnist1d"
    header, *rows = cells(folder / "index.html", "study-table")
    by_recipe = {r[2].split(" (baseline)")[0]: r for r in rows}
    assert [r[1] for r in rows] == ["2012-06-01", "2014-01-01", "2015-01-01"]  # date order
    assert by_recipe["CNN, Adam"][0] == "★" and by_recipe["RNN"][0] == ""
    assert number(by_recipe["CNN, Adam"][4]) == 1.0e9
    assert by_recipe["CNN, Adam"][5] == "8.00e+08 – 1.30e+09"
    assert by_recipe["CNN, Adam"][6] == "3 / 3" and by_recipe["CNN, Adam"][7] == "4×"
    assert by_recipe["RNN"][4] == "not reached" and by_recipe["RNN"][5] == "—"
    assert by_recipe["CNN, Adam"][10] == "lr=0.001"
    for name in ("accuracy_vs_compute.png", "compute_to_target.png"):
        assert (folder / name).read_bytes().startswith(PNG_MAGIC)
    assert json.loads((folder / "results.json").read_text()) == study_results()
    assert (folder / "table.md").is_file()


# -- escaping -----------------------------------------------------------------

def test_markup_in_a_ledger_is_text(tmp_path):
    site = build_site(tmp_path / "site", ledger=evil_ledger(tmp_path))
    text = (site.index.parent / "benchmark" / "alexnet" / "index.html").read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "<img src=x" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=window.__pwned=2&gt;" in text
    assert "javascript:" not in text  # an unsafe link stays text
    assert 'href="https://example.org/x?a=1&amp;b=2"' in text
    assert 'href="https://example.org/a&quot;b"' in text
    assert "AI &quot;and&quot; &lt;b&gt;Efficiency&lt;/b&gt;" in text
    header, *rows = cells(site.index.parent / "benchmark" / "alexnet" / "index.html", "leaderboard")
    assert [r[2] for r in rows] == [EVIL_SCRIPT, EVIL_IMG, "Costs $\\frac{1}{0}$ & more"]
    assert (site.index.parent / "benchmark" / "alexnet" / "trend.png").read_bytes().startswith(PNG_MAGIC)


def test_markup_in_a_study_is_text(tmp_path):
    data = study_results()
    data["title"] = EVIL_SCRIPT
    data["entries"][1]["title"] = EVIL_IMG
    data["entries"][1]["link"] = "javascript:alert(1)"
    data["target"]["metric"] = "acc<u>$x$"
    for curve in data["curves"]:
        for point in curve["points"]:
            point["acc<u>$x$"] = point.pop("test_accuracy")
    site = build_site(tmp_path / "site", studies=[write_study(tmp_path / "s", data)])
    for page in (site.index, site.index.parent / "study" / "mnist1d" / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower() and "<img src=x" not in text and "<u>" not in text
        assert "javascript:" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in site.index.read_text(encoding="utf-8")


# -- bad input ------------------------------------------------------------------

def _bad(mutate):
    data = study_results()
    mutate(data)
    return data


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("entries"), r"results.json: entries == null, must be a list\.$"),
    (lambda d: d.update(entries=[]), r"entries == \[\], must list at least one recipe\."),
    (lambda d: d.pop("workload"), r"workload == null, must be a non-empty string\."),
    (lambda d: d["target"].update(threshold="0.8"), r"target.threshold == '0.8', must be a finite number or null\."),
    (lambda d: d["entries"][2].update(date="2014-13-01"),
     r"entries\[2\].date == '2014-13-01', must be an ISO date \(YYYY-MM-DD\)\."),
    (lambda d: d["entries"][0].update(compute_to_target_flops=-1.0),
     r"entries\[0\].compute_to_target_flops == -1.0, must be > 0\."),
    (lambda d: d["entries"][1].update(ci95_flops=[1.0]),
     r"entries\[1\].ci95_flops == \[1.0\], must be \[low, high\]"),
    (lambda d: d["curves"][1]["points"][3].update(flops=None),
     r"curves\[1\].points\[3\].flops == null, must be a number\."),
    (lambda d: d.update(frontier=[1]), r"frontier == \[1\], must be a list of recipe names\."),
])
def test_malformed_results_json_is_one_line_report_error(tmp_path, mutate, message):
    folder = write_study(tmp_path / "s", _bad(mutate))
    with pytest.raises(ReportError, match=message) as info:
        load_study(folder)
    assert "\n" not in str(info.value) and str(folder / "results.json") in str(info.value)


def test_results_json_that_is_not_json(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "results.json").write_text('{"workload": "mnist1d",\n  "entries": [,]}', encoding="utf-8")
    with pytest.raises(ReportError, match=r"results.json:2:15: not valid JSON: Expecting value\.$"):
        load_study(folder)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "absent", r"study folder '.*absent' does not exist\."),
    (lambda p: p, r"no results.json; is it a folder written by `algoeff study --out`\?"),
    (lambda p: (p / "f.json").write_text("{}") and p / "f.json", r"is not a folder"),
])
def test_study_folder_errors(tmp_path, make, message):
    with pytest.raises(ReportError, match=message):
        load_study(make(tmp_path))


def test_missing_ledger(tmp_path):
    with pytest.raises(ReportError, match=r"ledger '.*nope.csv' does not exist\."):
        build_site(tmp_path / "site", ledger=tmp_path / "nope.csv")
    assert not (tmp_path / "site").exists()


# -- atomic output ---------------------------------------------------------------

def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_failure_leaves_the_previous_site(tmp_path, monkeypatch):
    study = write_study(tmp_path / "s")
    out = tmp_path / "site"
    first = build_site(out, ledger=evil_ledger(tmp_path), studies=[study])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(site_module.charts, "compute_to_target_chart", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_site(out, studies=[study])  # the bundled ledger's pages are written, then the study fails
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _siblings(out) == ["evil.csv", "s", "site"]  # no temp folder left beside it
    assert first.benchmarks == ["alexnet"]


def test_a_second_build_replaces_the_first(tmp_path):
    out = tmp_path / "site"
    build_site(out, studies=[write_study(tmp_path / "s")])
    site = build_site(out, ledger=evil_ledger(tmp_path))
    assert not (out / "study").exists() and site.benchmarks == ["alexnet"]
    assert sorted(p.name for p in (out / "benchmark").iterdir()) == ["alexnet"]
    assert _siblings(out) == ["evil.csv", "s", "site"]


def test_a_bad_study_writes_nothing(tmp_path):
    bad = write_study(tmp_path / "bad", _bad(lambda d: d.update(entries="x")))
    with pytest.raises(ReportError, match="entries == 'x'"):
        build_site(tmp_path / "site", studies=[write_study(tmp_path / "good"), bad])
    assert _siblings(tmp_path / "site") == ["bad", "good"]


def test_an_unrelated_folder_is_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match=r"is a folder that is not an algoeff report"):
        build_site(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match=r"is a file; pass a folder"):
        build_site(tmp_path / "file")
    assert (tmp_path / "notes.txt").read_text() == "mine"


# -- edge cases ---------------------------------------------------------------------

def test_study_where_no_recipe_reached_the_target(tmp_path):
    data = study_results()
    for e in data["entries"]:
        e.update(compute_to_target_flops=None, ci95_flops=None, reduction_factor=None)
    data.update(frontier=None, curves=None, doubling_time_months=None, doubling_time_ci95_months=None)
    site = build_site(tmp_path / "site", ledger=evil_ledger(tmp_path), studies=[write_study(tmp_path / "s", data)])
    page = (site.index.parent / "study" / "mnist1d" / "index.html").read_text(encoding="utf-8")
    assert "no recipe reached the target" in page and "efficiency doubling time" not in page
    header, *rows = cells(site.index.parent / "study" / "mnist1d" / "index.html", "study-table")
    assert [r[4] for r in rows] == ["not reached"] * 3


def test_benchmark_without_a_trend_still_has_a_page(tmp_path):
    path = tmp_path / "one.csv"
    write_ledger([Entry(benchmark="resnet50", publication="Only one", publication_link="",
                        date=dt.date(2016, 1, 1), compute_flops=1e18)], path)
    site = build_site(tmp_path / "site", ledger=path)
    page = site.index.parent / "benchmark" / "resnet50" / "index.html"
    assert "a trend needs at least 2" in page.read_text(encoding="utf-8")
    assert (page.parent / "trend.png").read_bytes().startswith(PNG_MAGIC)


def test_bundled_analyses_are_linked(tmp_path, monkeypatch):
    analyses = tmp_path / "analyses"
    (analyses / "alexnet").mkdir(parents=True)
    (analyses / "alexnet" / "googlenet.toml").write_text('publication = "GoogLeNet"\nepochs = 8\n# <b>x</b>\n')
    (analyses / "alexnet" / "mobilenet.toml").write_text("epochs = [\n")  # not TOML: matched by its name
    monkeypatch.setattr(site_module, "_analyses_root", lambda: analyses)
    site = build_site(tmp_path / "site")
    folder = site.index.parent / "benchmark" / "alexnet"
    text = (folder / "index.html").read_text(encoding="utf-8")
    assert text.count('href="analysis-googlenet.html"') == 1 and 'href="analysis-mobilenet.html"' in text
    analysis = (folder / "analysis-googlenet.html").read_text(encoding="utf-8")
    assert "epochs = 8" in analysis and "&lt;b&gt;x&lt;/b&gt;" in analysis


# -- CLI ----------------------------------------------------------------------------

def test_cli_prints_the_index_path(tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["report", "--study", str(write_study(tmp_path / "s")), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(out / "index.html")]
    assert "report: study mnist1d: 3 recipes" in captured.err
    assert main(["report", "--ledger", str(evil_ledger(tmp_path)), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["index"] == str(out / "index.html") and data["benchmarks"] == ["alexnet"]
    assert data["studies"] == [] and Path(data["pages"][1]).is_file()


@pytest.mark.parametrize("argv, status, line", [
    (["--study", "{tmp}/absent"], 1, r"ReportError: study folder '.*absent' does not exist\."),
    (["--ledger", "{tmp}/absent.csv"], 1, r"ReportError: ledger '.*absent.csv' does not exist\."),
    (["--ledger", "{tmp}"], 1, r"LedgerError: .* is a folder, expected a ledger CSV file\."),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, status, line):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["report", *argv, "--out", str(tmp_path / "site")]) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(line, err[0])
    assert not (tmp_path / "site").exists()


def test_cli_needs_out(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report"])
    assert info.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err

