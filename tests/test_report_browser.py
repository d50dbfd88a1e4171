"""The report site in a real browser: headless Chromium (Debian's chromium + chromium-driver) via selenium.

One browser and one HTTP server (127.0.0.1, ephemeral port) for the whole module, so it takes seconds.
These tests fail, never skip, where Chromium is missing: `scripts/test.sh` installs it.
"""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from algoeff.ledger import load_ledger
from algoeff.report import build_site
from algoeff.trend import fit_trend
from algoeff.units import from_flops

from test_report import EVIL_IMG, EVIL_SCRIPT, PNG_MAGIC, evil_ledger, study_results, write_study

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver"


def _find(name: str, default: str) -> str | None:
    return default if Path(default).is_file() else shutil.which(name)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _find("chromium", CHROMIUM), _find("chromedriver", CHROMEDRIVER)
    if chromium is None or driver_path is None:
        missing = " and ".join(n for n, p in (("chromium", chromium), ("chromedriver", driver_path)) if p is None)
        pytest.fail(f"the browser tests need headless Chromium; {missing} not found. "
                    f"Install Debian's packages: sudo {INSTALL} (scripts/test.sh does it).", pytrace=False)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,1800",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.binary_location = chromium
    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
    except WebDriverException as err:
        pytest.fail(f"headless Chromium did not start ({err.msg}); check `{INSTALL}` "
                    "installed matching chromium and chromium-driver versions.", pytrace=False)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two sites under one root: the bundled ledger with a study, and a ledger carrying markup."""
    root = tmp_path_factory.mktemp("served")
    data = study_results()
    data["entries"][1]["title"] = EVIL_IMG
    study = write_study(root / "inputs" / "study", data)
    sites = {
        "bundled": build_site(root / "bundled", studies=[study]),
        "evil": build_site(root / "evil", ledger=evil_ledger(root / "inputs")),
    }
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", sites
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _image_loaded(driver, element) -> bool:
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", element)


def _rows(driver, table_id: str) -> list[list[str]]:
    # textContent, not .text: every cell, even those scrolled out of view; less the
    # correction footnote marks (<sup>) after a corrected publication
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr')).map(r =>"
        " Array.from(r.cells).map(c => { const k = c.cloneNode(true);"
        " k.querySelectorAll('sup').forEach(s => s.remove()); return k.textContent.trim(); }))", table_id)


def _number(text: str) -> float:
    return float(text.replace("×", ""))


def test_each_benchmark_page_shows_the_ledger_and_its_chart(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    ledger = load_ledger()
    benches = ledger.used_benchmarks()
    assert len(benches) == 6  # the seed's 4 and, since issue 14, CIFAR-10 94% and the GPT-2 speedrun
    for bench in benches:
        browser.get(f"{base}/bundled/benchmark/{bench.key}/index.html")
        assert browser.find_element(By.TAG_NAME, "h1").text == bench.title
        entries = ledger.for_benchmark(bench.key)
        rows = _rows(browser, "leaderboard")
        assert len(rows) == len(entries)
        for row, e in zip(rows, entries):
            assert row[1] == e.date.isoformat() and row[2] == e.publication
            assert _number(row[3]) == pytest.approx(from_flops(e.compute_flops), rel=5e-3)
            assert _number(row[4]) == pytest.approx(e.compute_flops, rel=5e-3)
            assert _number(row[6]) == pytest.approx(entries[0].compute_flops / e.compute_flops, rel=5e-3)
        chart = browser.find_element(By.ID, "trend-chart")
        assert _image_loaded(browser, chart) and chart.size["width"] > 400
        fit = fit_trend(entries)
        headline = browser.find_element(By.ID, "doubling-time").text
        assert f"{fit.doubling_time_months:.1f} months" in headline
        assert browser.find_element(By.ID, "reduction-factor").text.startswith(f"{fit.reduction_factor:.3g}×")
        # the headline figures sit above the chart and the table
        assert (browser.find_element(By.ID, "doubling-time").location["y"]
                < chart.location["y"] < browser.find_element(By.ID, "leaderboard").location["y"])


def test_index_links_reach_every_page(browser, served):
    from selenium.webdriver.common.by import By

    base, sites = served
    browser.get(f"{base}/bundled/index.html")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#benchmarks a, #studies a")]
    assert len(links) == len(load_ledger().used_benchmarks()) + 1  # every benchmark page and the study
    titles = []
    for href in links:
        browser.get(href)
        titles.append(browser.find_element(By.TAG_NAME, "h1").text)
    assert titles == [b.title for b in load_ledger().used_benchmarks()] + ["MNIST-1D (quick)"]


def test_study_page_shows_its_table_and_charts(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    browser.get(f"{base}/bundled/study/mnist1d/index.html")
    rows = _rows(browser, "study-table")
    assert [r[1] for r in rows] == ["2012-06-01", "2014-01-01", "2015-01-01"]
    assert rows[2][2] == EVIL_IMG and rows[1][4] == "not reached"
    for ident in ("accuracy-chart", "compute-chart"):
        assert _image_loaded(browser, browser.find_element(By.ID, ident))
    assert browser.execute_script("return window.__pwned") is None


def test_injected_script_does_not_run(browser, served, tmp_path):
    from selenium.webdriver.common.by import By

    base, _ = served
    for url in (f"{base}/evil/benchmark/alexnet/index.html", f"{base}/evil/index.html"):
        browser.get(url)
        assert browser.execute_script("return window.__pwned") is None
        assert browser.execute_script("return document.scripts.length") == 0
        assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    browser.get(f"{base}/evil/benchmark/alexnet/index.html")
    publications = [row[2] for row in _rows(browser, "leaderboard")]
    assert publications[:2] == [EVIL_SCRIPT, EVIL_IMG]  # shown as text, exactly as the ledger has them
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#leaderboard a")]
    assert not any(h.startswith("javascript:") for h in hrefs)
    assert _image_loaded(browser, browser.find_element(By.ID, "trend-chart"))


def test_pages_work_opened_from_disk(browser, served):
    from selenium.webdriver.common.by import By

    _, sites = served
    browser.get(sites["bundled"].index.parent.joinpath("benchmark", "alexnet", "index.html").as_uri())
    assert _image_loaded(browser, browser.find_element(By.ID, "trend-chart"))
    browser.find_element(By.LINK_TEXT, "algoeff · algorithmic efficiency").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Algorithmic efficiency of neural-network training"


def test_screenshot(browser, served, tmp_path):
    base, _ = served
    browser.get(f"{base}/bundled/benchmark/alexnet/index.html")
    path = tmp_path / "alexnet.png"
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000 and height >= 1000
