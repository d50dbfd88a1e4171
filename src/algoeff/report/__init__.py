"""Reports: the static leaderboard site and its charts.

    build_site(out, *, ledger=None, studies=(), corrected=True, progress=None) -> Site
    load_study(folder) -> Study      # a study's results.json, checked
"""

from __future__ import annotations

from .site import MARKER, Site, build_site
from .study import Study, load_study

__all__ = ["MARKER", "Site", "Study", "build_site", "load_study"]
