"""From a tracked run or a study to ledger entries, with the analysis that lets ``ledger check`` recompute them.

    algoeff ledger add --from-run runs.db[:RUN] --ledger my.csv
    algoeff ledger add --from-study out/[:RECIPE] --ledger my.csv

It sits above track/ and study/ (it reads their files) and below cli/; the
ledger itself (below both) only sees plain fields and an analysis file.

An entry from a run takes everything from the run: compute to target (the
training FLOPs at the first evaluation at or past the target, the tracker's
headline rule), the convention (2 FLOPs per multiply-add, measured, one model),
its date (the day the run started, UTC) and provenance (store, run id, status).
The analysis written beside the ledger, ``analyses/<benchmark>/<publication>.toml``,
holds the run's curve, target and environment. A run whose curve never
reached its target is refused with that reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from pathlib import Path

from algoeff.errors import LedgerError
from algoeff.files import atomic_write_text
from algoeff.ledger import Benchmark, write_benchmarks
from algoeff.ledger.benchmarks import load_benchmarks, slug
from algoeff.ledger.load import BENCHMARKS_FILE, registry_for
from algoeff.ledger.measured import crossing

__all__ = ["Candidate", "from_run", "from_study", "parse_source", "write_analysis"]

MEASURED = {"flops_per_mac": 2, "models": 1, "method": "measured"}


@dataclasses.dataclass
class Candidate:
    """One entry to add, the analysis behind it, and why it may not be added."""

    label: str  # "run 3 of runs.db", "recipe adam of out/"
    fields: dict  # ledger fields (benchmark may still be empty)
    analysis: dict  # the analysis file's content, less benchmark/publication
    target: dict  # metric, threshold, higher_is_better
    refused: str = ""  # why it cannot be an entry ("" if it can)
    benchmark: str = ""  # the benchmark the run's config names ({"benchmark": KEY}), if any


def parse_source(text: str) -> tuple[Path, str | None]:
    """``STORE[:RUN]`` -> (STORE, RUN or None). A file or folder named with a ":" is taken whole;
    a Windows drive letter is not a RUN."""
    if Path(text).exists():
        return Path(text), None
    path, sep, rest = str(text).rpartition(":")
    if sep and path and rest and not re.fullmatch(r"[A-Za-z]", path) and "/" not in rest and "\\" not in rest:
        return Path(path), rest
    return Path(text), None


def _sign(higher: bool) -> str:
    return ">=" if higher else "<="


def _target_text(target: dict) -> str:
    return f"{target['metric']} {_sign(target.get('higher_is_better', True))} {target['threshold']:g}"


# -- runs ---------------------------------------------------------------------------

def _open_store(path: Path):
    from algoeff.track import RunStore

    if path.is_dir():
        raise LedgerError(f"--from-run {path}: is a folder, expected a run store file (ComputeTracker(store=...)).")
    if not path.is_file():
        raise LedgerError(f"--from-run {path}: no such run store (ComputeTracker(..., store={str(path)!r}) "
                          "writes one).")
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise LedgerError(f"--from-run {path}: not a run store (not an SQLite file).")
    return RunStore(path)


def _run_ids(store, path: Path, run: str | None) -> list[int]:
    runs = store.runs()
    if runs.empty:
        raise LedgerError(f"--from-run {path}: the store holds no runs.")
    if run is None:
        return [int(i) for i in runs["id"]]
    if run.isdigit():
        if int(run) not in set(int(i) for i in runs["id"]):
            raise LedgerError(f"--from-run {path}:{run}: no run with id {run}; ids: "
                              f"{', '.join(str(i) for i in runs['id'])}.")
        return [int(run)]
    named = [int(i) for i, name, key in zip(runs["id"], runs["name"], runs["key"]) if run in (name, key)]
    if not named:
        names = sorted({str(n) for n in runs["name"] if n} | {str(k) for k in runs["key"] if k})
        raise LedgerError(f"--from-run {path}:{run}: no run with that id, name or key; "
                          f"names: {', '.join(names) or '(none)'}.")
    return [named[-1]]  # the latest run of that name


def _finite_or_none(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _run_candidate(store, path: Path, run_id: int) -> Candidate:
    run = store.run(run_id)
    label = f"run {run_id} of {path}" + (f" ({run['name']})" if run.get("name") else "")
    target = run.get("target")
    if not isinstance(target, dict) or "metric" not in target or "threshold" not in target:
        return Candidate(label, {}, {}, {}, refused=f"{label} has no target; ComputeTracker(model, Target(...)) "
                                                    "records one")
    target = {"metric": target["metric"], "threshold": float(target["threshold"]),
              "higher_is_better": bool(target.get("higher_is_better", True))}
    points = store.points(run_id)
    metric = target["metric"]
    if points.empty or metric not in points.columns:
        return Candidate(label, {}, {}, target, refused=f"{label} recorded no {metric!r}, so it did not reach "
                                                        f"its target {_target_text(target)}")
    flops = [float(f) for f in points["flops"]]
    values = [float(v) if v is not None else math.nan for v in points[metric]]
    i = crossing(flops, values, target["threshold"], target["higher_is_better"])
    if i is None:
        finite = [v for v in values if math.isfinite(v)]
        best = (max if target["higher_is_better"] else min)(finite) if finite else None
        diverged = len(finite) < len(values)
        why = (f"{label} did not reach its target {_target_text(target)}: "
               + (f"best {metric} {best:g} over {len(values)} evaluations, {flops[-1]:.3g} training FLOPs"
                  if best is not None else "no finite value recorded")
               + (", then diverged" if diverged else "") + f" (status {run['status']})")
        return Candidate(label, {}, {}, target, refused=why)
    started = str(run.get("started") or "")
    date = started[:10] if re.match(r"\d{4}-\d{2}-\d{2}", started) else dt.date.today().isoformat()
    name = run.get("name") or run.get("key") or f"run {run_id}"
    step = int(points["step"].iloc[i])
    fields = {
        "publication": str(name),
        "date": date,
        "compute_flops": flops[i],
        **MEASURED,
        "provenance": (f"algoeff run store {path}, run {run_id} ({run['status']}): training FLOPs at evaluation "
                       f"{i + 1} of {len(flops)} (step {step}), the first at or past {_target_text(target)}"),
    }
    env = run.get("environment") or {}
    analysis = {
        "method": "measured",
        "summary": (f"ComputeTracker run {run_id} of {path.name}: training FLOPs at the first evaluation at or past "
                    f"{_target_text(target)} (evaluation FLOPs kept apart; 2 FLOPs per multiply-add)"),
        "inputs": {**target, "flops": flops, "values": values},
        "sources": {"run": f"{path}:{run_id}", "status": str(run["status"]), "started": started,
                    "finished": str(run.get("finished") or ""),
                    "config": json.dumps(run.get("config") or {}, sort_keys=True)},
        "environment": {k: v for k, v in env.items() if v is not None},
    }
    config = run.get("config") or {}
    named = config.get("benchmark") if isinstance(config.get("benchmark"), str) else ""
    return Candidate(label, fields, analysis, target, benchmark=named)


def from_run(source: str) -> list[Candidate]:
    """The candidates in ``STORE[:RUN]``: one run, or every run of the store in id order."""
    path, run = parse_source(source)
    store = _open_store(path)
    try:
        return [_run_candidate(store, path, i) for i in _run_ids(store, path, run)]
    finally:
        store.close()


# -- studies ------------------------------------------------------------------------

def from_study(source: str) -> list[Candidate]:
    """The candidates in ``DIR[:RECIPE]``: one recipe of a study's results.json, or all, baseline first."""
    folder, recipe = parse_source(source)
    results = folder / "results.json"
    if not results.is_file():
        raise LedgerError(f"--from-study {folder}: no results.json there (algoeff study ... --out {folder} "
                          "writes it when the study completes).")
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LedgerError(f"--from-study {results}: not valid JSON: {err}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise LedgerError(f"--from-study {results}: no 'entries' list; is it a study's results.json?")
    target = data.get("target") if isinstance(data.get("target"), dict) else {}
    if recipe is not None:
        entries = [e for e in entries if e.get("recipe") == recipe]
        if not entries:
            names = [str(e.get("recipe")) for e in data["entries"]]
            raise LedgerError(f"--from-study {folder}:{recipe}: no such recipe; recipes: {', '.join(names)}.")
    entries = sorted(entries, key=lambda e: (not e.get("is_baseline"), str(e.get("date", ""))))
    workload = data.get("workload", folder.name)
    out = []
    for e in entries:
        label = f"recipe {e.get('recipe')} of {folder}"
        flops = _finite_or_none(e.get("compute_to_target_flops"))
        if not e.get("reached", flops is not None) or flops is None:
            out.append(Candidate(label, {}, {}, target, refused=(
                f"{label} did not reach the study's target" + (f" {_target_text(target)}" if target else "")
                + f" (seeds reached: {e.get('seeds_reached', '?')} of {e.get('seeds', '?')})")))
            continue
        seeds = [v if _finite_or_none(v) is not None else math.inf for v in e.get("compute_by_seed_flops") or []]
        fields = {
            "publication": str(e.get("publication") or e.get("recipe")),
            "publication_link": str(e.get("link") or ""),
            "date": str(e.get("date") or ""),
            "compute_flops": float(flops),
            **MEASURED,
            "provenance": (f"algoeff study {workload} ({results}), recipe {e.get('recipe')}: median compute to "
                           f"target of {e.get('seeds', '?')} seeds ({e.get('seeds_reached', '?')} reached)"
                           + (", baseline charged its full schedule" if e.get("is_baseline") else "")),
        }
        analysis = {
            "method": "measured",
            "summary": f"study {workload}, recipe {e.get('recipe')}: median over seeds of the compute to target",
            "inputs": {"compute_by_seed_flops": seeds} if seeds else {"metric": "-"},
            "sources": {"study": str(results), "recipe": str(e.get("recipe")),
                        "rule": str((data.get("rules") or {}).get("compute_to_target", ""))},
        }
        if not seeds:  # an older results.json without the seeds' figures: the figure as reported
            analysis["method"] = "reported"
            analysis["inputs"] = {"total_flops": float(flops)}
        out.append(Candidate(label, fields, analysis, target))
    return out


# -- the benchmark and the analysis file ------------------------------------------------

def resolve_benchmark(candidates: list[Candidate], ledger: Path, key: str | None) -> tuple[str, Benchmark | None]:
    """The benchmark key the entries go to, and the Benchmark to define if it is new.

    With ``key`` it must match the runs' target (metric direction and threshold)
    when the benchmark states one; an unknown ``key`` is defined from the target
    in a benchmarks.toml beside the ledger. Without ``key``: the benchmark the
    runs' config names (``config={"benchmark": KEY}``), else the one known
    benchmark whose threshold and direction match the target, else one named
    after the target ("accuracy-0.9"), defined beside the ledger.
    """
    targets = {json.dumps(c.target, sort_keys=True) for c in candidates if c.target and not c.refused}
    if len(targets) > 1:
        raise LedgerError(f"the runs have {len(targets)} different targets; add one at a time (STORE:RUN).")
    if not targets:
        return (key or ""), None
    target = json.loads(targets.pop())
    registry = registry_for(ledger)
    direction = "higher" if target["higher_is_better"] else "lower"

    def matches(bench: Benchmark) -> bool:
        return (bench.threshold is not None and math.isclose(bench.threshold, target["threshold"], rel_tol=1e-9)
                and bench.direction == direction)

    if key is None:
        named = {c.benchmark for c in candidates if c.benchmark and not c.refused}
        if len(named) > 1:
            raise LedgerError(f"the runs name {len(named)} benchmarks in their config ({', '.join(sorted(named))}); "
                              "add one at a time (STORE:RUN) or give --benchmark KEY.")
        key = named.pop() if named else None
    if key is None:
        found = [b for b in registry if matches(b)]
        if len(found) == 1:
            return found[0].key, None
        if len(found) > 1:
            raise LedgerError(f"which benchmark did the run reach? its target {_target_text(target)} matches "
                              f"{', '.join(b.key for b in found)}; give --benchmark KEY.")
        # none known: a benchmark named after the target, defined beside the ledger (and said so)
        below = "" if target["higher_is_better"] else "below-"
        key = slug(f"{target['metric']}-{below}{target['threshold']:g}")
    bench = registry.get(key)
    if bench is None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", key):
            raise LedgerError(f"--benchmark {key!r}: a new benchmark key must be lower-case letters, digits, "
                              "'_', '.', '-'.")
        bench = Benchmark(key=key, title=f"{key}: {_target_text(target)}", capability=_target_text(target),
                          metric=target["metric"], threshold=target["threshold"], direction=direction,
                          source="defined by algoeff ledger add from a tracked run's target")
        return key, bench
    if bench.threshold is not None and bench.direction is not None and not matches(bench):
        raise LedgerError(f"--benchmark {key}: its target is {bench.metric or 'the metric'} "
                          f"{'>=' if bench.direction == 'higher' else '<='} {bench.threshold:g}, "
                          f"the run's is {_target_text(target)}; an entry must reach the benchmark's target.")
    return bench.key, None


def define_benchmark(bench: Benchmark, ledger: Path):
    """Add ``bench`` to the benchmarks.toml beside ``ledger``; return a function that undoes it."""
    beside = ledger.parent / BENCHMARKS_FILE
    before = beside.read_bytes() if beside.is_file() else None
    existing = load_benchmarks(beside) if before is not None else []
    write_benchmarks([*existing, bench], beside)

    def undo():
        if before is None:
            beside.unlink(missing_ok=True)
        else:
            atomic_write_text(beside, before.decode("utf-8"))

    return beside, undo


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)  # JSON's escapes are valid in a TOML basic string


def analysis_path(ledger: Path, benchmark: str, publication: str) -> Path:
    return ledger.parent / "analyses" / benchmark / f"{slug(publication)}.toml"


def write_analysis(path: Path, benchmark: str, publication: str, analysis: dict, convention: dict,
                   yields: float) -> Path:
    """Write an analysis file ``ledger check`` reads (ledger/analysis.py's format)."""
    inputs = dict(analysis["inputs"])
    if analysis["method"] == "measured":
        inputs["flops_per_mac"] = convention["flops_per_mac"]
    lines = ["# Written by algoeff ledger add; `algoeff ledger check` recomputes the entry from it.",
             f"benchmark = {_toml(benchmark)}", f"publication = {_toml(publication)}",
             f"method = {_toml(analysis['method'])}", f"summary = {_toml(analysis['summary'])}", "",
             "[convention]", f"flops_per_mac = {convention['flops_per_mac']}", f"models = {convention['models']}"]
    if convention.get("utilization_discount") is not None:
        lines.append(f"utilization_discount = {convention['utilization_discount']!r}")
    for table, content in (("inputs", inputs), ("sources", analysis.get("sources", {})),
                           ("environment", analysis.get("environment", {})),
                           ("yields", {"compute_flops": yields})):
        if content:
            lines += ["", f"[{table}]", *(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in content.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, "\n".join(lines) + "\n")
