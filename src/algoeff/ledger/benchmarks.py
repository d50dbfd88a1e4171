"""Benchmarks: a fixed capability whose training compute the ledger tracks.

The registry is data (``data/benchmarks.toml``); a ledger may add its own in a
``benchmarks.toml`` beside it. Lookup is by key or alias, case-insensitive.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from importlib import resources
from pathlib import Path

from algoeff.errors import LedgerError

from algoeff.files import atomic_write_text

__all__ = [
    "Benchmark",
    "BenchmarkRegistry",
    "add_benchmark",
    "adhoc_benchmark",
    "bundled_benchmarks",
    "load_benchmarks",
    "write_benchmarks",
]

DIRECTIONS = ("higher", "lower")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    key: str  # lower-case identifier, e.g. "alexnet"
    title: str  # table heading, e.g. "AlexNet-level performance"
    capability: str = ""  # what reaching it means, e.g. "79.1% top 5 accuracy on ImageNet"
    dataset: str = ""
    metric: str = ""  # e.g. "top-5 accuracy (%)"
    threshold: float | None = None
    direction: str | None = None  # "higher" or "lower": which side of threshold counts as reached
    aliases: tuple[str, ...] = ()
    source: str = ""

    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["aliases"] = list(self.aliases)
        return data


def slug(name: str) -> str:
    """A benchmark key made from a free-text name: "ResNet-50" -> "resnet-50"."""
    text = re.sub(r"[^a-z0-9_.-]+", "-", name.strip().lower()).strip("-")
    return text or "benchmark"


def adhoc_benchmark(name: str) -> Benchmark:
    """A benchmark known only by the name a seed-format ledger gives it."""
    return Benchmark(key=slug(name), title=f"{name.strip()}-level performance", aliases=(name.strip(),))


class BenchmarkRegistry:
    """Benchmarks by key, with case-insensitive lookup by key or alias."""

    def __init__(self, benchmarks=()):
        self._by_key: dict[str, Benchmark] = {}
        for bench in benchmarks:
            self.add(bench)

    def add(self, bench: Benchmark) -> None:
        # A later definition of the same key replaces the earlier one: a
        # benchmarks.toml beside a ledger overrides the bundled registry.
        self._by_key[bench.key] = bench

    def get(self, name: str) -> Benchmark | None:
        wanted = name.strip().lower()
        if wanted in self._by_key:
            return self._by_key[wanted]
        for bench in self._by_key.values():
            if any(alias.lower() == wanted for alias in bench.aliases):
                return bench
        return None

    def __getitem__(self, name: str) -> Benchmark:
        bench = self.get(name)
        if bench is None:
            raise LedgerError(
                f"Unknown benchmark {name!r}. Possible values are: {', '.join(self._by_key) or '(none)'}."
            )
        return bench

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self):
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def keys(self) -> list[str]:
        return list(self._by_key)

    def copy(self) -> "BenchmarkRegistry":
        return BenchmarkRegistry(self._by_key.values())


def _parse_benchmark(key: str, table, where: str) -> Benchmark:
    if not isinstance(table, dict):
        raise LedgerError(f"{where}: [{key}] must be a table of fields.")
    if not _KEY.match(key):
        raise LedgerError(f"{where}: benchmark key {key!r} must be lower-case letters, digits, '_', '.', '-'.")
    known = {f.name for f in dataclasses.fields(Benchmark)} - {"key"}
    extra = sorted(set(table) - known)
    if extra:
        raise LedgerError(f"{where}: [{key}] unknown field {extra[0]!r}. Possible fields are: {', '.join(sorted(known))}.")
    if not isinstance(table.get("title"), str) or not table["title"].strip():
        raise LedgerError(f"{where}: [{key}] title is missing, must be a non-empty string.")
    threshold = table.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold)
    ):
        raise LedgerError(f"{where}: [{key}] threshold == {threshold!r}, must be a finite number.")
    direction = table.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise LedgerError(
            f"{where}: [{key}] direction == {direction!r}. Possible values are: {', '.join(DIRECTIONS)}."
        )
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise LedgerError(f"{where}: [{key}] aliases must be a list of strings.")
    for name in ("capability", "dataset", "metric", "source"):
        if not isinstance(table.get(name, ""), str):
            raise LedgerError(f"{where}: [{key}] {name} must be a string.")
    return Benchmark(
        key=key,
        title=table["title"],
        capability=table.get("capability", ""),
        dataset=table.get("dataset", ""),
        metric=table.get("metric", ""),
        threshold=None if threshold is None else float(threshold),
        direction=direction,
        aliases=tuple(aliases),
        source=table.get("source", ""),
    )


def _parse_toml(text: str, where: str) -> list[Benchmark]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LedgerError(f"{where}: not valid TOML: {err}") from err
    return [_parse_benchmark(key, table, where) for key, table in data.items()]


def load_benchmarks(path) -> list[Benchmark]:
    """Read the benchmarks defined in a ``benchmarks.toml`` file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise LedgerError(f"{path}: not UTF-8 ({err.reason} at byte {err.start}).") from err
    return _parse_toml(text, str(path))


_BUNDLED: list[Benchmark] | None = None


def bundled_benchmarks() -> BenchmarkRegistry:
    """The registry shipped with algoeff (a fresh copy: callers may add to it)."""
    global _BUNDLED
    if _BUNDLED is None:
        text = resources.files("algoeff").joinpath("data/benchmarks.toml").read_text(encoding="utf-8")
        _BUNDLED = _parse_toml(text, "algoeff/data/benchmarks.toml")
    return BenchmarkRegistry(_BUNDLED)


def _toml_value(value) -> str:
    if isinstance(value, str):
        # JSON's string escapes are valid in a TOML basic string
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _toml_table(bench: Benchmark) -> list[str]:
    # a TOML bare key has no "."; a key such as "accuracy-0.9" is written quoted
    key = bench.key if re.fullmatch(r"[A-Za-z0-9_-]+", bench.key) else json.dumps(bench.key)
    lines = [f"[{key}]"]
    for name, value in bench.to_dict().items():
        if name == "key" or value is None or value == "" or value == []:
            continue
        lines.append(f"{name} = {_toml_value(value)}")
    return lines


def write_benchmarks(benchmarks, path) -> Path:
    """Write benchmarks as TOML at ``path``, atomically (temp file + rename)."""
    path = Path(path)
    lines = ["# Benchmarks defined for the ledger beside this file (algoeff)."]
    for bench in benchmarks:
        lines.append("")
        lines.extend(_toml_table(bench))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def add_benchmark(path, bench: Benchmark) -> Path:
    """Append ``bench`` to the benchmarks.toml at ``path`` (created if absent), atomically.

    Validated first: the key's spelling, a title, a finite threshold, a direction,
    and no clash of its key or aliases with a bundled benchmark or one the file
    defines. The file's other text (comments included) is kept as it is; nothing
    is written unless the result reads back to the same benchmarks plus this one.
    """
    path = Path(path)
    where = str(path)
    _parse_benchmark(bench.key, {k: v for k, v in bench.to_dict().items() if k != "key" and v is not None}, where)
    if bench.threshold is None or bench.direction is None:
        raise LedgerError(f"{where}: [{bench.key}] needs a threshold and a direction (higher or lower): they say "
                          "what reaching the benchmark means.")
    if path.is_dir():
        raise LedgerError(f"{where}: is a folder, expected a benchmarks.toml file.")
    text = ""
    existing: list[Benchmark] = []
    if path.exists():
        text = path.read_bytes().decode("utf-8", errors="strict") if path.stat().st_size else ""
        existing = _parse_toml(text, where)
    taken = bundled_benchmarks()
    for other in existing:
        taken.add(other)
    for name in bench.names():
        clash = taken.get(name)
        if clash is not None:
            origin = "defined in this file" if any(b.key == clash.key for b in existing) else "bundled with algoeff"
            raise LedgerError(f"{where}: {name!r} is already a name of benchmark {clash.key!r} ({origin}); "
                              "choose another key or alias.")
    block = "\n".join(_toml_table(bench)) + "\n"
    if not text:
        new_text = "# Benchmarks defined for the ledger beside this file (algoeff).\n\n" + block
    else:
        new_text = text + ("" if text.endswith("\n") else "\n") + "\n" + block
    if _parse_toml(new_text, where) != [*existing, bench]:
        raise LedgerError(f"{where}: [{bench.key}] does not read back as written (nothing written).")
    atomic_write_text(path, new_text)
    return path

