"""The pages' Jinja2 environment: templates under report/templates, autoescape on.

    render(name, root=..., version=..., **context) -> str

Every page gets ``root`` (the relative path to the site root, "" or "../../"),
``version`` (the data-version footer: ledger hash, algoeff version, build time)
and the number filters. ``StrictUndefined``: a template naming a missing value
fails the build instead of printing nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
import re
from importlib import resources

from markupsafe import Markup

from .svg import PALETTE
from .html import fmt_factor, fmt_interval, fmt_months, fmt_number

__all__ = ["Version", "render", "version_of"]

# a 16 px favicon: the frontier's falling line, drawn once here (a data: URL; the CSP allows img data:)
FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
           "%3Crect width='16' height='16' rx='3' fill='%230d1b2a'/%3E%3Cpolyline points='2,3 6,7 10,9 14,13' "
           "fill='none' stroke='%2358a6ff' stroke-width='2'/%3E%3C/svg%3E")


@dataclasses.dataclass(frozen=True)
class Version:
    """What a page was built from: shown in every footer and in the downloads."""

    ledger: str  # "the bundled ledger" or the file's name
    ledger_sha256: str  # of the ledger file's bytes
    corrected: bool  # errata applied
    algoeff: str
    built: str  # UTC, ISO 8601, seconds

    @property
    def short_hash(self) -> str:
        return self.ledger_sha256[:12]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def version_of(ledger, label: str, algoeff_version: str) -> Version:
    """The data version of a site built now (or at SOURCE_DATE_EPOCH, for reproducible builds)."""
    digest = hashlib.sha256(ledger.path.read_bytes()).hexdigest() if ledger.path else "none"
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch and epoch.isdigit()
            else dt.datetime.now(dt.timezone.utc))
    return Version(label, digest, ledger.corrected, algoeff_version,
                   when.replace(microsecond=0).isoformat().replace("+00:00", "Z"))


# the site spells the unit one way, as the CLI does; analyses and ledger notes use older spellings
_UNIT_SPELLINGS = re.compile(r"(?<![\w-])(?:tf-s-days|tfs-s/days|teraflop/s-days)(?![\w-])")


def one_unit(text: str) -> str:
    """``text`` with every spelling of teraflop/s-days written as tfs-days."""
    return _UNIT_SPELLINGS.sub("tfs-days", text)


def _finalize(value):
    # plain text only: HTML built in Python (links, SVG) is left exactly as built, URLs included
    if isinstance(value, str) and not isinstance(value, Markup):
        return one_unit(value)
    return value


@functools.lru_cache(maxsize=1)
def _env():
    import jinja2

    folder = resources.files("algoeff.report").joinpath("templates")
    if not folder.joinpath("base.html").is_file():
        from algoeff.errors import ReportError

        raise ReportError(f"the site's templates are missing from {folder}: algoeff was installed without "
                          "its package data (report/templates/*); reinstall it.")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=_finalize)
    env.filters.update(num=fmt_number, factor=fmt_factor, months=fmt_months,
                       interval=lambda pair, **kw: fmt_interval(pair[0], pair[1], **kw))
    env.globals.update(favicon=FAVICON, palette=PALETTE)
    return env


def render(name: str, *, root: str, version: Version, **context) -> str:
    return _env().get_template(name).render(root=root, version=version, **context)
