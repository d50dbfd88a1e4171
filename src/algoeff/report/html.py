"""HTML pieces for the static site: escaping, links, tables, the page frame.

Every piece of text that comes from a ledger or a study passes through ``esc``
(``html.escape`` with quotes) before it reaches a page; links are kept only for
http(s) URLs, so a ``javascript:`` URL in a ledger is shown as text, never made
clickable. Pages carry their style inline and load nothing from the network.
"""

from __future__ import annotations

import html
import math
from urllib.parse import urlsplit

__all__ = ["esc", "external_link", "fmt_factor", "fmt_number", "page", "table"]

SAFE_SCHEMES = ("http", "https")

STYLE = """
:root { --ink: #1d2430; --muted: #5b6472; --line: #d9dee5; --accent: #1f6feb; --soft: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
header.site { background: #0d1b2a; color: #fff; padding: 10px 28px; }
header.site a { color: #fff; text-decoration: none; font-weight: 600; }
header.site nav a { font-weight: 400; margin-left: 18px; opacity: .85; }
main { max-width: 1240px; margin: 0 auto; padding: 18px 28px 40px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 19px; margin: 30px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
p.sub { color: var(--muted); margin: 0 0 14px; }
a { color: var(--accent); }
.headline { display: flex; flex-wrap: wrap; gap: 14px; margin: 14px 0 8px; }
.figure { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
          padding: 10px 16px; min-width: 190px; }
.figure .value { font-size: 26px; font-weight: 700; }
.figure .label { color: var(--muted); font-size: 13px; }
.figure .detail { font-size: 13px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.date { white-space: nowrap; }
tr.frontier td { background: #eef6ee; }
.mark { color: #1a7f37; font-weight: 700; }
.note { color: var(--muted); font-size: 13px; }
img.chart { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.charts figure { margin: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(720px, 1fr)); gap: 16px; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); margin-top: 36px; padding-top: 8px; }
code.config { font-size: 12px; overflow-wrap: anywhere; }
pre { background: var(--soft); border: 1px solid var(--line); padding: 12px; overflow-x: auto; font-size: 13px; }
"""


def esc(value) -> str:
    """Text for HTML, quotes included (safe in element content and quoted attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def is_safe_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.netloc)


def external_link(url, text) -> str:
    """``<a>`` to an http(s) URL; any other URL (javascript:, data:, empty) leaves the text unlinked."""
    if url and is_safe_url(str(url)):
        return f'<a href="{esc(str(url).strip())}" rel="noopener noreferrer">{esc(text)}</a>'
    return esc(text)


def fmt_number(value, digits: int = 3) -> str:
    """Three significant figures; exponent form outside everyday sizes: 3.1, 0.0694, 2.68e+17."""
    if value is None:
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return "∞" if value > 0 else "—"
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        return f"{value:.{digits - 1}e}"
    return f"{float(f'{value:.{digits}g}'):g}"


def fmt_factor(value) -> str:
    """A reduction factor: 44.9x, 1x."""
    if value is None:
        return "—"
    return f"{float(f'{float(value):.3g}'):g}×"


def table(headers, rows, *, numeric=(), nowrap=(), row_classes=None, table_id: str = "") -> str:
    """A table from already-escaped cell HTML; ``numeric`` columns align right, ``nowrap`` ones never wrap."""
    def cls(i: int) -> str:
        return " class=num" if i in numeric else " class=date" if i in nowrap else ""

    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f'<th{cls(i)} scope="col">{h}</th>' for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        row_cls = row_classes[r] if row_classes and row_classes[r] else ""
        cells = "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row))
        body.append(f'<tr{f" class={row_cls}" if row_cls else ""}>{cells}</tr>')
    return (f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def headline_figure(value: str, label: str, detail: str = "", *, ident: str = "") -> str:
    """One big number at the top of a page: escaped text in, HTML out."""
    attr = f' id="{esc(ident)}"' if ident else ""
    extra = f'<div class="detail">{esc(detail)}</div>' if detail else ""
    return (f'<div class="figure"{attr}><div class="value">{esc(value)}</div>'
            f'<div class="label">{esc(label)}</div>{extra}</div>')


def page(title: str, body: str, *, root: str, footer: str = "") -> str:
    """A whole page; ``title`` is plain text, ``body`` HTML, ``root`` the relative path to the site root."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'">
<title>{esc(title)} · algoeff</title>
<style>{STYLE}</style>
</head>
<body>
<header class="site"><a href="{root}index.html">algoeff · algorithmic efficiency</a>
<nav><a href="{root}index.html#benchmarks">benchmarks</a><a href="{root}index.html#studies">studies</a></nav></header>
<main>
{body}
<footer>{footer}</footer>
</main>
</body>
</html>
"""
