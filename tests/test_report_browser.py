"""The report site in a real browser: headless Chromium (Debian's chromium + chromium-driver) via selenium.

One browser and one HTTP server (127.0.0.1, ephemeral port) for the whole module; the sites are
served from a subpath (/deep/sub/path/...), as a project page would be. Widths are set through
Chrome's device-metrics override, so 390 px is the layout viewport a phone gives (meta viewport on).
These tests fail, never skip, where Chromium is missing: `scripts/test.sh` installs it.
"""

import csv
import functools
import http.server
import io
import json
import shutil
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

from algoeff.ledger import load_ledger
from algoeff.report import build_site
from algoeff.trend import fit_trend
from algoeff.units import from_flops

from test_report import EVIL_IMG, EVIL_SCRIPT, PNG_MAGIC, big_ledger, evil_ledger, study_results_v2, write_study

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver"
WIDTHS = (1400, 390)
SUBPATH = "deep/sub/path"


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
                "--disable-sync", "--hide-scrollbars", "--window-size=1400,1000",
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


def _width(driver, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three sites under one subpath: the bundled ledger with a study, a ledger carrying markup, 60 entries."""
    root = tmp_path_factory.mktemp("served")
    base = root / SUBPATH
    data = study_results_v2()
    data["entries"][1]["title"] = EVIL_IMG
    study = write_study(root / "inputs" / "study", data)
    sites = {
        "bundled": build_site(base / "bundled", studies=[study]),
        "evil": build_site(base / "evil", ledger=evil_ledger(root / "inputs")),
        "big": build_site(base / "big", ledger=big_ledger(root / "inputs")),
    }
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{SUBPATH}", sites
    server.shutdown()
    server.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages(site) -> list[str]:
    root = site.index.parent
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))


def _rows(driver, table_id: str) -> list[list[str]]:
    # textContent, not .text: every cell, even those scrolled out of view; less the
    # correction footnote marks (<sup>) after a corrected publication
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr')).map(r =>"
        " Array.from(r.cells).map(c => { const k = c.cloneNode(true);"
        " k.querySelectorAll('sup').forEach(s => s.remove()); return k.textContent.trim(); }))", table_id)


def _number(text: str) -> float:
    return float(text.replace("×", ""))


LAYOUT = """
const doc = document.documentElement;
const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);
const dup = ids.filter((x, i) => ids.indexOf(x) !== i);
const imgs = Array.from(document.images).filter(i => i.hasAttribute('width')).map(i =>
  [i.src, i.naturalWidth, i.naturalHeight, +i.getAttribute('width'), +i.getAttribute('height')]);
const svgs = Array.from(document.querySelectorAll('svg.chart')).filter(s => s.getClientRects().length).map(s => {
  const r = s.getBoundingClientRect(), vb = s.viewBox.baseVal;
  return [r.width, r.height, vb.width, vb.height, s.parentElement.parentElement.getBoundingClientRect().width];
});
const labels = Array.from(document.querySelectorAll('svg.chart g.lbl')).filter(g => g.getClientRects().length)
  .map(g => { const r = g.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; });
const fonts = Array.from(document.querySelectorAll('svg.chart text')).filter(t => t.getClientRects().length)
  .map(t => t.getBoundingClientRect().height);
return {scroll: doc.scrollWidth, view: window.innerWidth, dup: dup, imgs: imgs, svgs: svgs, labels: labels,
        minText: fonts.length ? Math.min(...fonts) : null};
"""


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_layout_of_every_page(browser, served):
    """At 1400 and 390 px: no horizontal overflow, no duplicate ids, images and charts at their own aspect,
    chart labels apart, chart text legible. Each page is loaded once and laid out at both widths."""
    base, sites = served
    problems = []
    for name, site in sites.items():
        for page, width in ((p, w) for p in _pages(site) for w in WIDTHS):
            _width(browser, width)
            if width == WIDTHS[0]:
                browser.get(f"{base}/{name}/{page}")
            got = browser.execute_script(LAYOUT)
            where = f"{name}/{page} at {width} px"
            # against the width asked for: on a phone, a page wider than the screen widens the viewport too
            if got["scroll"] > width or got["view"] != width:
                problems.append(f"{where}: document {got['scroll']} px wide, viewport {got['view']} px")
            if got["dup"]:
                problems.append(f"{where}: duplicate ids {sorted(set(got['dup']))}")
            for src, nw, nh, w, h in got["imgs"]:
                if (nw, nh) != (w, h):
                    problems.append(f"{where}: {src} is {nw}x{nh}, attributes say {w}x{h}")
            for w, h, vw, vh, box in got["svgs"]:
                if abs(w / h - vw / vh) > 0.01 or w > box + 0.5:
                    problems.append(f"{where}: chart drawn {w:.0f}x{h:.0f} for a {vw:.0f}x{vh:.0f} drawing in {box:.0f} px")
            boxes = got["labels"]
            if any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]):
                problems.append(f"{where}: chart labels overlap")
            if got["minText"] is not None and got["minText"] < 8:  # a chart's smallest text, in CSS px
                problems.append(f"{where}: chart text {got['minText']:.1f} px tall")
    _width(browser, WIDTHS[0])
    assert problems == []


def test_sixty_entry_chart_shows_every_label_apart(browser, served):
    base, _ = served
    for width in WIDTHS:
        _width(browser, width)
        browser.get(f"{base}/big/benchmark/alexnet/index.html")
        boxes = browser.execute_script(LAYOUT)["labels"]
        assert len(boxes) == 45
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    _width(browser, 1400)


def _links(driver) -> list[str]:
    return driver.execute_script(
        # getAttribute, resolved against the page: an SVG <a>'s .href is not a string
        "return Array.from(document.querySelectorAll('a[href], link[href], img[src]')).map(e =>"
        " new URL(e.getAttribute('href') || e.getAttribute('src'), document.baseURI).href)")


def _ids_of(html: str) -> set[str]:
    from test_report import Ids

    parser = Ids()
    parser.feed(html)
    return set(parser.ids)


def _check_links(start: str, fetch) -> tuple[int, list[str], list[str]]:
    """Crawl from ``start`` through the site's own links; every one must load, every #fragment must exist.

    Links are resolved as a browser resolves them (``urljoin`` against the page's URL; the
    browser test below checks the two agree on a page of each kind), so every page's links are
    checked without loading each page in the browser. Returns (links checked, problems, pages).
    """
    from urllib.parse import urljoin

    from test_report import Ids

    home = start.rsplit("/", 1)[0] + "/"
    seen, queue, bad, texts, ids, checked = set(), [start], [], {start: fetch(start)}, {}, 0
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        parser = Ids()
        parser.feed(texts[url])
        for link in (urljoin(url, ref) for ref in parser.links):
            if link.startswith("data:"):
                continue
            target, frag = urldefrag(link)
            if not target.startswith(home):
                assert urlsplit(target).scheme == "https", f"{url}: link outside the site: {link}"
                continue  # an external http(s) link: not fetched (no network in tests)
            if target not in texts:
                texts[target] = fetch(target)
            if texts[target] is not None and target.endswith(".html") and target not in ids:
                ids[target] = _ids_of(texts[target])
            checked += 1
            if texts[target] is None:
                bad.append(f"{url}: {link} does not load")
            elif frag and target.endswith(".html") and frag not in ids[target]:
                bad.append(f"{url}: {link}: no id {frag!r}")
            elif target.endswith(".html"):
                queue.append(target)
    return checked, bad, sorted(seen)


def _http(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.read().decode("utf-8") if reply.status == 200 else None
    except OSError:
        return None


def _file(url: str) -> str | None:
    from urllib.request import url2pathname

    path = Path(url2pathname(urlsplit(url).path))
    return path.read_text(encoding="utf-8") if path.is_file() else None


def test_every_link_resolves_served_from_a_subpath_and_from_disk(browser, served):
    base, sites = served
    _width(browser, 1400)
    pages = {}
    for start, fetch in ((f"{base}/bundled/index.html", _http), (sites["bundled"].index.as_uri(), _file)):
        checked, bad, pages[fetch] = _check_links(start, fetch)
        assert bad == [] and checked > 200
        assert len(pages[fetch]) == len(_pages(sites["bundled"]))  # the crawl reached every page
    # the browser resolves each kind of page's links exactly as the crawl did
    from urllib.parse import urljoin

    from test_report import Ids

    kinds = {}
    for url in pages[_http] + pages[_file]:
        kind = (url.split(":")[0], url.rsplit("/", 1)[1].split("-")[0])
        kinds.setdefault(kind, url)
    for url in kinds.values():
        browser.get(url)
        text = _http(url) if url.startswith("http") else _file(url)
        parser = Ids()
        parser.feed(text)
        assert _links(browser) == [urljoin(url, ref) for ref in parser.links], url


def test_downloads_parse_and_equal_the_ledger(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    ledger = load_ledger()
    browser.get(f"{base}/bundled/index.html")
    hrefs = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#downloads ~ p a")}
    rows = list(csv.DictReader(io.StringIO(_http(hrefs["ledger.csv"]))))
    assert [(r["benchmark"], r["publication"], float(r["compute_flops"])) for r in rows] == [
        (e.benchmark, e.publication, e.compute_flops) for e in ledger.entries]
    assert json.loads(_http(hrefs["ledger.json"]))["entries"] == [e.to_dict() for e in ledger.entries]
    for bench in ledger.used_benchmarks():
        browser.get(f"{base}/bundled/benchmark/{bench.key}/index.html")
        links = {a.get_attribute("href").rsplit("/", 1)[1]: a.get_attribute("href")
                 for a in browser.find_elements(By.CSS_SELECTOR, "p.views a[download]")}
        entries = ledger.for_benchmark(bench.key)
        rows = list(csv.DictReader(io.StringIO(_http(links["entries.csv"]))))
        assert [(r["date"], r["publication"], float(r["compute_flops"])) for r in rows] == [
            (e.date.isoformat(), e.publication, e.compute_flops) for e in entries]
        assert json.loads(_http(links["entries.json"]))["entries"] == [e.to_dict() for e in entries]


def test_caveat_badges_on_resnet50_and_seq2seq(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    _width(browser, 1400)
    for key, label, anchor in (("resnet50", "does not reproduce", "caveat-reproduce"),
                               ("seq2seq", "mixed conventions", "caveat-conventions")):
        browser.get(f"{base}/bundled/benchmark/{key}/index.html")
        badges = [b for b in browser.find_elements(By.CSS_SELECTOR, "a.badge") if b.text == label]
        assert badges and badges[0].location["y"] < browser.find_element(By.ID, "trend-chart").location["y"]
        badges[0].click()
        assert browser.current_url.endswith(f"#{anchor}")
        assert label in browser.find_element(By.ID, anchor).text
        browser.get(f"{base}/bundled/index.html")
        card = browser.find_element(By.ID, f"card-{key}")
        assert label in [b.text for b in card.find_elements(By.CSS_SELECTOR, "a.badge")]


def test_each_benchmark_page_shows_the_ledger(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    _width(browser, 1400)
    ledger = load_ledger()
    for bench in ledger.used_benchmarks():
        browser.get(f"{base}/bundled/benchmark/{bench.key}/index.html")
        assert browser.find_element(By.TAG_NAME, "h1").text == bench.title
        entries = ledger.for_benchmark(bench.key)
        rows = _rows(browser, "leaderboard")
        assert len(rows) == len(entries)
        for row, e in zip(rows, reversed(entries)):  # newest first
            assert row[2] == e.date.isoformat() and row[3] == e.publication
            assert _number(row[4]) == pytest.approx(from_flops(e.compute_flops), rel=5e-3)
            assert _number(row[7]) == pytest.approx(entries[0].compute_flops / e.compute_flops, rel=5e-3)
        fit = fit_trend(entries)
        assert f"{fit.doubling_time_months:.1f} months" in browser.find_element(By.ID, "doubling-time").text
        assert browser.find_element(By.ID, "reduction-factor").text.startswith(f"{fit.reduction_factor:.3g}×")
        chart = browser.find_element(By.ID, "trend-chart")
        assert (browser.find_element(By.ID, "doubling-time").location["y"] < chart.location["y"]
                < browser.find_element(By.ID, "leaderboard").location["y"])


def test_study_page_at_both_widths(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    for width in WIDTHS:
        _width(browser, width)
        browser.get(f"{base}/bundled/study/mnist1d/index.html")
        rows = _rows(browser, "study-table")
        assert [r[2] for r in rows] == ["2015-01-01", "2014-01-01", "2012-06-01"]
        assert rows[0][3] == EVIL_IMG
        for ident in ("compute-chart", "accuracy-chart", "sensitivity-chart"):
            assert browser.find_element(By.ID, ident).size["width"] > 300
        # at 390 px each row is a block with labelled cells: the compute is on screen, not scrolled off
        cell = browser.find_element(By.CSS_SELECTOR, "#study-table tbody tr td[data-label='Compute to target (FLOPs)']")
        assert 0 <= cell.location["x"] and cell.location["x"] + cell.size["width"] <= width
    assert browser.execute_script("return window.__pwned") is None
    _width(browser, 1400)


def test_injected_script_does_not_run(browser, served):
    from selenium.webdriver.common.by import By

    base, _ = served
    for url in (f"{base}/evil/benchmark/alexnet/index.html", f"{base}/evil/index.html",
                f"{base}/bundled/study/mnist1d/index.html"):
        browser.get(url)
        assert browser.execute_script("return window.__pwned") is None
        assert browser.execute_script("return document.scripts.length") == 0
        assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    browser.get(f"{base}/evil/benchmark/alexnet/index.html")
    publications = [row[3] for row in _rows(browser, "leaderboard")]
    assert publications[1:] == [EVIL_IMG, EVIL_SCRIPT]  # shown as text, exactly as the ledger has them
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, "a")]
    assert not any(h.startswith("javascript:") for h in hrefs)


def test_screenshots(browser, served, tmp_path):
    base, _ = served
    for width in WIDTHS:
        _width(browser, width)
        browser.get(f"{base}/bundled/benchmark/alexnet/index.html")
        path = tmp_path / f"alexnet-{width}.png"
        assert browser.save_screenshot(str(path))
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and int.from_bytes(data[16:20], "big") == width
    _width(browser, 1400)
