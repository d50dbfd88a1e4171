"""The report site without a browser: pages, links and ids, caveats, downloads, charts' label
layout, escaping, study input checks (today's results.json and the protocol issue's keys),
atomic output, CLI.

The browser checks (no overflow at 1400 and 390 px, links from file:// and a subpath, labels on
screen, scripts not run) are in test_report_browser.py; ``study_results``, ``write_study``,
``evil_ledger`` and ``big_ledger`` here build their inputs.
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
from algoeff.report import charts as charts_module
from algoeff.units import from_flops

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_CHART = '<svg class="chart'
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


def study_results_v2() -> dict:
    """results.json with the study-protocol issue's keys: protocol, targets, sensitivity, decomposition..."""
    data = study_results()
    data["protocol"] = {"splits": {"train": 3000, "validation": 1000, "test": 1000}, "tuning_seeds": [0, 1],
                        "report_seeds": [2, 3, 4], "selection_metric": "validation_accuracy"}
    data["targets"] = {"validation": {"metric": "val_accuracy", "threshold": 0.81, "higher_is_better": True},
                       "test": dict(data["target"]),
                       "baseline_final_test": {"median": 0.9012, "coverage": 0.875, "ci": [0.88, 0.91], "seeds": 3}}
    data["doubling_time_bootstrap_ci95_months"] = [11.0, 30.0]
    data["baseline_warning"] = "the baseline reaches 0.85 in 1 of 3 seeds"
    data["run_seconds"] = 4321.0
    data["entries"][1].update(reduction_factor_vs_control=2.5, ci_coverage=0.93,
                              decomposition={"epochs_factor": 2.0, "flops_per_epoch_factor": 2.0},
                              reduction_factor_ci95=[3.07, 5.0])
    data["entries"][0].update(ci_coverage=0.95, ci95_flops=[4.0e9, 4.0e9])  # zero width: one value
    data["sensitivity"] = [
        {"threshold": 0.75, "doubling_time_months": 12.0, "ci95_months": [8.0, 20.0], "frontier": ["mlp-2012", "cnn-2015"],
         "bootstrap_ci95_months": [9.5, 16.0]},
        {"threshold": 0.8, "doubling_time_months": 15.0, "ci95_months": [9.0, None], "frontier": ["mlp-2012", "cnn-2015"]},
        {"threshold": 0.85, "doubling_time_months": None, "ci95_months": None, "frontier": ["mlp-2012"]},
    ]
    return data


def big_ledger(folder: Path, n: int = 60) -> Path:
    """A 60-entry ledger over two benchmarks with long, unicode and markup-ish names, ~half on the frontier."""
    names = ["Ünïcødé-Net 名前のモデル", "A Remarkably Long Publication Title About Efficient Training At Scale",
             "Costs $5 & <b>more</b>", "Ελληνικά δίκτυα", "Модель", "x"]
    entries = []
    for i in range(n):
        bench = "alexnet" if i < 45 else "resnet50"
        k = i if i < 45 else i - 45
        date = dt.date(2012, 6, 1) + dt.timedelta(days=int(k * 7.3 * 30.44 / (45 if i < 45 else 15) * 6))
        base = 2.7e17 if i < 45 else 1.5e18
        # every other entry improves on the last; the rest sit above the frontier
        flops = base * 0.9 ** k * (1.0 if k % 2 == 0 else 1.6)
        entries.append(Entry(benchmark=bench, publication=f"{names[k % len(names)]} #{k}", publication_link="",
                             date=date, compute_flops=flops, listed_reduction_factor=None))
    path = folder / "big.csv"
    write_ledger(entries, path)
    return path


class Ids(HTMLParser):
    """Every id, href and src of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


def page_refs(path: Path) -> Ids:
    parser = Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def site_pages(site) -> list[Path]:
    return sorted(site.index.parent.rglob("*.html"))


def broken_links(site) -> list[str]:
    """Links of every page that do not resolve to a file of the site (and, with a #fragment, to an id in it)."""
    root = site.index.parent.resolve()
    ids = {p.resolve(): set(page_refs(p).ids) for p in site_pages(site)}
    bad = []
    for page in site_pages(site):
        for link in page_refs(page).links:
            if link.startswith(("https://", "http://", "data:")):
                continue
            target, _, frag = link.partition("#")
            path = (page.parent / target).resolve() if target else page.resolve()
            if root not in path.parents and path != root or not path.is_file():
                bad.append(f"{page.relative_to(root)}: {link} (no such file)")
            elif frag and frag not in ids.get(path, set()):
                bad.append(f"{page.relative_to(root)}: {link} (no id {frag!r})")
    return bad


# -- the site from the bundled ledger ---------------------------------------

@pytest.fixture(scope="module")
def bundled_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    study = write_study(root / "study")
    return build_site(root / "site", studies=[study]), load_ledger()


def test_every_bundled_benchmark_has_its_pages_and_an_svg_chart(bundled_site):
    site, ledger = bundled_site
    keys = [b.key for b in ledger.used_benchmarks()]
    assert site.benchmarks == keys and keys[:4] == ["alexnet", "resnet50", "seq2seq", "gnmt"]
    for key in keys:
        folder = site.index.parent / "benchmark" / key
        text = (folder / "index.html").read_text(encoding="utf-8")
        assert text.count(SVG_CHART) == 2  # the wide and the narrow drawing
        assert (folder / "frontier.html").is_file()
    assert (site.index.parent / MARKER).is_file() and (site.index.parent / "method.html").is_file()
    # a published site is world-readable (temp files start owner-only)
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in [site.index.parent, *site.index.parent.rglob("*")])


def test_every_link_resolves_and_no_id_repeats(bundled_site):
    site, _ = bundled_site
    assert broken_links(site) == []
    for page in site_pages(site):
        ids = page_refs(page).ids
        assert len(ids) == len(set(ids)), f"{page}: duplicate ids {[i for i in ids if ids.count(i) > 1]}"
    # the analysis pages' header links point at the site root (they pointed one level above it)
    analysis = next((site.index.parent / "benchmark" / "alexnet").glob("analysis-*.html"))
    assert 'href="../../index.html"' in analysis.read_text(encoding="utf-8")


def test_leaderboard_cells_match_the_ledger_newest_first(bundled_site):
    site, ledger = bundled_site
    for bench in ledger.used_benchmarks():
        entries = ledger.for_benchmark(bench.key)
        header, *rows = cells(site.index.parent / "benchmark" / bench.key / "index.html", "leaderboard")
        assert header[:6] == ["#", "Frontier", "Date", "Publication", "Compute (tfs-days)", "Compute (FLOPs)"]
        assert len(rows) == len(entries)
        for row, e in zip(rows, reversed(entries)):
            assert row[2] == e.date.isoformat() and row[3].startswith(e.publication)
            assert number(row[4]) == pytest.approx(from_flops(e.compute_flops), rel=5e-3)
            assert number(row[5]) == pytest.approx(e.compute_flops, rel=5e-3)
            assert number(row[7]) == pytest.approx(entries[0].compute_flops / e.compute_flops, rel=5e-3)
            if e.listed_reduction_factor is not None:
                assert number(row[6]) == pytest.approx(e.listed_reduction_factor, rel=5e-3)
        # the frontier view: the same rows, only those on the frontier
        _, *front = cells(site.index.parent / "benchmark" / bench.key / "frontier.html", "leaderboard")
        assert front == [r for r in rows if r[1] == "★"] and front


def test_every_entry_has_a_permalink(bundled_site):
    site, ledger = bundled_site
    text = (site.index.parent / "benchmark" / "alexnet" / "index.html").read_text(encoding="utf-8")
    for e in ledger.for_benchmark("alexnet"):
        anchor = f"e-{e.date.isoformat()}-"
        assert re.search(rf'<tr id="{anchor}[a-z0-9-]+"', text), e.publication


def test_benchmark_page_leads_with_reduction_factor_and_doubling_time(bundled_site):
    from algoeff.trend import fit_trend

    site, ledger = bundled_site
    text = (site.index.parent / "benchmark" / "alexnet" / "index.html").read_text(encoding="utf-8")
    fit = fit_trend(ledger.for_benchmark("alexnet"))
    lo, hi = fit.doubling_time_ci95_months
    top = text[: text.index("Leaderboard")]
    assert f"{fit.reduction_factor:.3g}×" in top
    assert f"{fit.doubling_time_months:.1f} months" in top
    assert f"95% CI {lo:.1f} – {hi:.1f} months" in top
    assert "hardware × algorithms (algoeff&#39;s derivation)" in top and "not a figure from the paper" in top
    # two frontier points: no CI, the page says why and carries the badge
    gnmt = (site.index.parent / "benchmark" / "gnmt" / "index.html").read_text(encoding="utf-8")
    assert "no 95% CI (2 frontier points)" in gnmt and 'href="#caveat-ci"' in gnmt


def test_caveat_badges_come_from_ledger_check_and_conventions(bundled_site):
    site, _ = bundled_site
    folder = site.index.parent / "benchmark"
    resnet = (folder / "resnet50" / "index.html").read_text(encoding="utf-8")
    top = resnet[: resnet.index("Efficiency over time")]
    assert '<a class="badge" href="#caveat-reproduce"' in top  # beside the 22.7x headline, not only below
    assert 'id="caveat-reproduce"' in resnet and re.search(r"2 of \d+ entries do not reproduce", resnet)
    seq = (folder / "seq2seq" / "index.html").read_text(encoding="utf-8")
    assert '<a class="badge" href="#caveat-conventions"' in seq and "utilization discount 0.33, 5 models" in seq
    alexnet = (folder / "alexnet" / "index.html").read_text(encoding="utf-8")
    assert 'class="badge"' not in alexnet  # every AlexNet entry reproduces, mixes nothing, has a CI
    index = site.index.read_text(encoding="utf-8")
    assert 'href="benchmark/resnet50/index.html#caveat-reproduce"' in index
    assert 'href="benchmark/seq2seq/index.html#caveat-conventions"' in index
    method = (site.index.parent / "method.html").read_text(encoding="utf-8")
    assert all(f'id="caveat-{k}"' in method for k in ("reproduce", "conventions", "ci"))


def test_analysis_page_is_rendered_not_dumped(bundled_site):
    site, _ = bundled_site
    page = site.index.parent / "benchmark" / "resnet50" / "analysis-2015-12-10-resnet-50.html"
    text = page.read_text(encoding="utf-8")
    assert "does not reproduce" in text and "Why it differs" in text
    assert "17 tfs-days" in text and "15.4 tfs-days" in text  # listed against recomputed
    assert "90 epochs" not in text or "epochs" in text
    assert "= 3.86e+09 × (1 + 2) × 1.28e+06 × 90 × 1 = 1.334e+18 FLOPs" in text  # the formula, with its numbers
    header, *rows = cells(page, "inputs-table")
    sources = {r[0]: r[2] for r in rows}
    assert sources["per_example_gmacs"].startswith("Hernandez & Brown 2020 (arXiv 2005.04305), Table 3")
    assert "<pre>" not in text and "[inputs]" not in text
    assert (page.with_suffix(".toml")).is_file()  # the file itself, beside the page


def test_index_has_a_card_per_benchmark_and_the_study(bundled_site):
    site, ledger = bundled_site
    text = site.index.read_text(encoding="utf-8")
    for bench in ledger.used_benchmarks():
        assert f'id="card-{bench.key}"' in text
    from algoeff.trend import fit_trend

    fit = fit_trend(ledger.for_benchmark("alexnet"))
    card = text[text.index('id="card-alexnet"'): text.index('id="card-resnet50"')]
    assert f">{fit.frontier[-1].publication}</a> ({fit.frontier[-1].date.year})" in card
    assert f"{fit.reduction_factor:.3g}× vs AlexNet (2012)" in card
    assert f"{fit.doubling_time_months:.1f} months, 95% CI" in card
    assert 'id="card-study-mnist1d"' in text and "2 / 3" in text
    for page in site.pages[1:]:
        assert f'href="{page.relative_to(site.index.parent).as_posix()}"' in text or page.name != "index.html"


def test_every_page_carries_the_data_version(bundled_site):
    import hashlib

    from algoeff import __version__
    from algoeff.ledger import bundled_ledger_path

    site, _ = bundled_site
    digest = hashlib.sha256(bundled_ledger_path().read_bytes()).hexdigest()
    for page in site_pages(site):
        text = page.read_text(encoding="utf-8")
        assert f'title="{digest}">{digest[:12]}</code>' in text and f"algoeff {__version__}" in text, page
        assert 'href="../../method.html#cite"' in text or 'href="method.html#cite"' in text
        assert '<link rel="icon"' in text
    assert f"sha256 {digest}" in (site.index.parent / "method.html").read_text(encoding="utf-8")


def test_the_unit_is_spelled_one_way(bundled_site):
    site, _ = bundled_site
    for page in site_pages(site):
        text = page.read_text(encoding="utf-8")
        for other in ("tf-s-days", "tfs-s/days", "teraflop/s-days"):
            assert other not in text, (page, other)


def test_downloads_parse_and_equal_the_ledger(bundled_site):
    import csv

    site, ledger = bundled_site
    root = site.index.parent
    whole = load_ledger(root / "ledger.csv", corrected=False)  # already corrected: load as written
    assert [_fields(e) for e in whole.entries] == [_fields(e) for e in ledger.entries]
    data = json.loads((root / "ledger.json").read_text(encoding="utf-8"))
    assert data["entries"] == [e.to_dict() for e in ledger.entries]
    for bench in ledger.used_benchmarks():
        folder = root / "benchmark" / bench.key
        rows = list(csv.DictReader((folder / "entries.csv").open(encoding="utf-8")))
        entries = ledger.for_benchmark(bench.key)
        assert [r["publication"] for r in rows] == [e.publication for e in entries]
        assert [float(r["compute_flops"]) for r in rows] == [e.compute_flops for e in entries]
        one = json.loads((folder / "entries.json").read_text(encoding="utf-8"))
        assert one["entries"] == [e.to_dict() for e in entries] and one["benchmark"]["key"] == bench.key


def _fields(e):
    return (e.benchmark, e.publication, e.publication_link, e.date, e.compute_flops, e.listed_reduction_factor,
            e.analysis, e.analysis_link, e.flops_per_mac, e.utilization_discount, e.models, e.method)


def test_study_page_table_and_charts(bundled_site):
    site, _ = bundled_site
    folder = site.index.parent / "study" / "mnist1d"
    header, *rows = cells(folder / "index.html", "study-table")
    by_recipe = {r[3].split(" (baseline)")[0]: r for r in rows}
    assert [r[2] for r in rows] == ["2015-01-01", "2014-01-01", "2012-06-01"]  # newest first
    assert by_recipe["CNN, Adam"][1] == "★" and by_recipe["RNN"][1] == ""
    assert number(by_recipe["CNN, Adam"][5]) == 1.0e9
    assert by_recipe["CNN, Adam"][6] == "8.00e+08 – 1.30e+09"
    assert by_recipe["CNN, Adam"][7] == "3 / 3" and by_recipe["CNN, Adam"][8] == "4×"
    assert by_recipe["RNN"][5] == "not reached" and by_recipe["RNN"][6] == "—"
    _, *configs = cells(folder / "index.html", "config-table")
    assert ["3", "CNN, Adam", "lr=0.001"] in configs
    text = (folder / "index.html").read_text(encoding="utf-8")
    assert text.count(SVG_CHART) == 4  # compute to target and accuracy, wide and narrow
    assert json.loads((folder / "results.json").read_text()) == study_results()
    assert (folder / "table.md").is_file()
    assert "not recorded in this results.json" in text  # splits and run time: today's format has neither


def test_study_page_renders_the_protocol_issue_keys(tmp_path):
    site = build_site(tmp_path / "site", ledger=evil_ledger(tmp_path),
                      studies=[write_study(tmp_path / "s", study_results_v2())])
    page = site.index.parent / "study" / "mnist1d" / "index.html"
    text = page.read_text(encoding="utf-8")
    header, *rows = cells(page, "study-table")
    col = {h: i for i, h in enumerate(header)}
    cnn = next(r for r in rows if r[col["Recipe"]] == "CNN, Adam")
    base = next(r for r in rows if r[col["Recipe"]].startswith("MLP, SGD"))
    assert cnn[col["CI coverage"]] == "93%" and cnn[col["vs control"]] == "2.5×"
    assert cnn[col["Epochs × FLOPs/epoch"]] == "2 × 2"
    assert cnn[col["Reduction 95% CI"]] == "3.07× – 5×"
    assert base[col["CI (FLOPs)"]] == "4.00e+09 (zero width)"  # one value, not an interval; coverage beside it
    _, *sens = cells(page, "sensitivity-table")
    assert sens == [["0.75", "12.0", "8.0 – 20.0", "9.5 – 16.0", "mlp-2012, cnn-2015"],
                    ["0.8", "15.0", "9.0 – ∞", "—", "mlp-2012, cnn-2015"], ["0.85", "—", "—", "—", "mlp-2012"]]
    assert 'id="sensitivity-chart"' in text
    assert "train: 3,000, validation: 1,000, test: 1,000" in text and "validation_accuracy" in text
    assert "Reporting seeds</dt><dd>2, 3, 4" in text
    assert "val_accuracy &gt;= 0.81" in text and "median 0.9012, 87.5% interval 0.88 – 0.91 (3 seeds)" in text
    assert "seed bootstrap 95% CI 11.0 – 30.0 months" in text and "the baseline reaches 0.85 in 1 of 3 seeds" in text
    assert "72.0 min" in text and "evaluation compute" in text


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(sensitivity=[{"threshold": "high"}]), r"sensitivity\[0\].threshold == 'high'"),
    (lambda d: d.update(sensitivity={"a": 1}), r"sensitivity == .*must be a list"),
    (lambda d: d.update(protocol=[1]), r"protocol == \[1\], must be an object"),
    (lambda d: d["entries"][1].update(decomposition={"epochs_factor": "2"}),
     r"entries\[1\].decomposition.epochs_factor == '2'"),
    (lambda d: d["entries"][1].update(reduction_factor_ci95=[1]), r"entries\[1\].reduction_factor_ci95 == \[1\]"),
])
def test_malformed_protocol_keys_are_one_line_report_errors(tmp_path, mutate, message):
    data = study_results_v2()
    mutate(data)
    with pytest.raises(ReportError, match=message):
        load_study(write_study(tmp_path / "s", data))


# -- charts ----------------------------------------------------------------------

def test_intervals_round_like_their_points():
    from hypothesis import given, strategies as st

    from algoeff.report.html import fmt_interval, fmt_number

    @given(st.lists(st.floats(1e-6, 1e20), min_size=3, max_size=3))
    def check(values):
        lo, point, hi = sorted(values)
        shown = fmt_interval(lo, hi)
        if "zero width" in shown:
            assert fmt_number(lo) == fmt_number(point) == fmt_number(hi)
            return
        a, b = (float(x) for x in shown.split(" – "))
        assert a <= float(fmt_number(point)) <= b

    check()


def test_label_layout_never_overlaps():
    from hypothesis import given, strategies as st

    from algoeff.report.svg import overlaps, place_labels

    @given(st.lists(st.tuples(st.floats(0, 900), st.integers(1, 3)), min_size=1, max_size=80))
    def check(items):
        widths = [8 + 8 * k for _, k in items]
        placed = place_labels([x for x, _ in items], widths, left=50, right=950)
        assert sorted(p.index for p in placed) == list(range(len(items)))
        boxes = [(p.x, p.lane * 20, p.width, 16) for p in placed]
        assert all(50 <= p.x and p.x + p.width <= 950 + 1e-9 for p in placed)
        assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])

    check()


def test_sixty_entries_with_long_unicode_names(tmp_path):
    from algoeff.report.svg import overlaps

    site = build_site(tmp_path / "site", ledger=big_ledger(tmp_path))
    assert broken_links(site) == []
    for page, variants in site.labels.items():
        for variant, boxes in variants.items():
            assert boxes, (page, variant)
            assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), (page, variant)
    text = (site.index.parent / "benchmark" / "alexnet" / "index.html").read_text(encoding="utf-8")
    assert len(site.labels["benchmark/alexnet/index.html"]["wide"]) == 45
    assert "Ünïcødé-Net 名前のモデル #0" in text and "Costs $5 &amp; &lt;b&gt;more&lt;/b&gt; #2" in text
    ids = page_refs(site.index.parent / "benchmark" / "alexnet" / "index.html").ids
    assert len(ids) == len(set(ids))


def test_decade_and_date_ticks():
    from algoeff.report.svg import date_ticks, log_domain, log_ticks

    lo, hi = log_domain([0.069e0, 3.1])
    assert (lo, hi) == (0.01, 10.0) and log_ticks(lo, hi) == [0.01, 0.1, 1.0, 10.0]
    start, end = dt.date(2012, 1, 1).toordinal(), dt.date(2020, 1, 1).toordinal()
    assert [t for _, t in date_ticks(start, end, 12)] == [str(y) for y in range(2012, 2021)]
    assert [t for _, t in date_ticks(start, end, 5)] == ["2012", "2014", "2016", "2018", "2020"]


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
    assert [r[3] for r in rows] == ["Costs $\\frac{1}{0}$ & more", EVIL_IMG, EVIL_SCRIPT]
    # in the chart a "$" is a dollar sign (no mathtext) and markup is text
    assert "<title>3. Costs $\\frac{1}{0}$ &amp; more (2018-01-01)" in text
    for page in site_pages(site):
        body = page.read_text(encoding="utf-8")
        assert "<script" not in body.lower() and "<img src=x" not in body and "javascript:" not in body


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

    monkeypatch.setattr(charts_module, "compute_to_target_chart", broken)
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
    assert [r[5] for r in rows] == ["not reached"] * 3


def test_benchmark_without_a_trend_still_has_a_page(tmp_path):
    path = tmp_path / "one.csv"
    write_ledger([Entry(benchmark="resnet50", publication="Only one", publication_link="",
                        date=dt.date(2016, 1, 1), compute_flops=1e18)], path)
    site = build_site(tmp_path / "site", ledger=path)
    page = site.index.parent / "benchmark" / "resnet50" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "a trend needs at least 2" in text and text.count(SVG_CHART) == 2
    assert 'href="#caveat-ci"' in text and broken_links(site) == []


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

