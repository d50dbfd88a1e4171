"""Text for the pages: escaping, safe links, numbers, intervals and slugs.

Templates render with Jinja2's autoescape on, so ledger and study text is
escaped wherever it is placed; the few pieces of HTML built in Python (links,
SVG) are built from ``esc``-aped parts and handed over as ``Markup``. Links are
kept only for http(s) URLs, so a ``javascript:`` URL in a ledger is shown as
text, never made clickable.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from urllib.parse import urlsplit

from markupsafe import Markup

__all__ = ["esc", "external_link", "fmt_factor", "fmt_interval", "fmt_number", "is_safe_url", "slug"]

SAFE_SCHEMES = ("http", "https")


def esc(value) -> str:
    """Text for HTML, quotes included (safe in element content and quoted attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def is_safe_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.netloc)


def external_link(url, text) -> Markup:
    """``<a>`` to an http(s) URL; any other URL (javascript:, data:, empty) leaves the text unlinked."""
    if url and is_safe_url(str(url)):
        return Markup(f'<a href="{esc(str(url).strip())}" rel="noopener noreferrer">{esc(text)}</a>')
    return Markup(esc(text))


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
    """A reduction factor: 44.9×, 1×."""
    if value is None:
        return "—"
    return f"{fmt_number(value)}×"


def fmt_months(value) -> str:
    if value is None:
        return "—"
    return "∞" if not math.isfinite(value) else f"{value:.1f}"


def fmt_interval(lo, hi, fmt=fmt_number, *, unit: str = "") -> str:
    """A 95% CI in the same rounding as its point value, so the point never falls outside it.

    Rounding to a fixed number of figures is monotone, so point >= lo stays true once
    both are rounded alike. A bound of None is open ("∞" above, "—" below); an interval
    whose bounds round to one value is shown as that single value.
    """
    a = fmt(lo) if lo is not None else "—"
    b = fmt(hi) if hi is not None else "∞"
    tail = f" {unit}" if unit else ""
    if a == b:
        return f"{a}{tail} (zero width)"
    return f"{a} – {b}{tail}"


def slug(text: str, fallback: str = "x") -> str:
    """A URL- and id-safe name: ASCII letters, digits and dashes ("ResNet-50 (b1)" -> "resnet-50-b1")."""
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    out = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:60].strip("-")
    return out or fallback


def unique_slugs(names, prefix: str = "") -> list[str]:
    """One distinct slug per name, in order; repeats get -2, -3, ..."""
    used: set[str] = set()
    out = []
    for i, name in enumerate(names):
        base = candidate = prefix + slug(name, fallback=f"{i + 1}")
        n = 1
        while candidate in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate)
        out.append(candidate)
    return out
