"""Analyses: the recomputable calculation behind each ledger entry.

One TOML file per entry, ``analyses/<benchmark>/<entry>.toml``::

    benchmark = "alexnet"            # benchmark key
    publication = "AlexNet"          # the entry's publication, as the ledger names it
    method = "counting"              # counting | hardware | reported | counted | measured (ledger/measured.py)
    summary = "one line: what was computed"
    difference = "..."               # only if the entry does not reproduce: why, and what was tried
    tried = ["...", "..."]           # alternatives tried, each with its result

    [convention]                     # of the value the analysis yields
    flops_per_mac = 1                # 1 or 2
    utilization_discount = 0.33      # omit if none was applied
    models = 1

    [inputs]                         # keyword arguments of estimate_ops / estimate_hardware,
    ...                              # or total_flops for "reported"; plus fraction_of_run
    [sources]                        # input name -> where the figure comes from
    ...
    [yields]                         # what the inputs give; `algoeff ledger check` recomputes it
    compute_flops = 2.66112e17

    [[cross_checks]]                 # other estimates of the same run (label, method, inputs, sources, note)

``fraction_of_run`` charges part of a training run: the compute to reach the
benchmark when it was reached before the run ended (the Transformer at ~20%).

``counted`` rebuilds the model and counts it: ``ledger check`` runs algoeff's own
counter (a training step on the meta device) and multiplies by the examples seen::

    [inputs]
    model = "algoeff.estimate.archs.cifar:airbench94"   # or torchvision:NAME
    input_shape = [3, 32, 32]        # one example
    examples = 50000                 # training-set size (gives epochs)
    flops_per_mac = 2                # 1 halves the counter's FLOPs, as the paper's vision rows count
    [[inputs.phases]]                # optional; each overrides the keys above
    batch_size = 1024
    steps = 144                      # or epochs = ...
    model_args = { whiten_bias_grad = true }

(see algoeff.estimate.counted).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from importlib import resources
from pathlib import Path

from algoeff.errors import CountError, EstimateError, LedgerError
from algoeff.estimate import Convention, Estimate, estimate_hardware, estimate_ops
from algoeff.estimate.counted import estimate_counted, parse_phases
from algoeff.estimate.result import positive

from .measured import INPUTS as MEASURED_INPUTS, measured_estimate

__all__ = ["METHODS", "Analysis", "Computation", "bundled_analyses_dir", "compute", "load_analyses",
           "load_analysis", "yield_is_stale"]

METHODS = ("counting", "hardware", "reported", "counted", "measured")
_INPUTS = {
    "counting": {"per_example_flops", "per_example_gflops", "per_example_gmacs", "examples", "epochs",
                 "backward_factor", "flops_per_mac", "models"},
    "hardware": {"device", "count", "minutes", "hours", "days", "precision", "utilization", "peak_flops",
                 "peak_tflops", "models"},
    "reported": {"total_flops"},
    "counted": {"model", "model_args", "input_shape", "input_dtype", "examples", "epochs", "batch_size", "steps",
                "train", "phases", "flops_per_mac", "models", "policy"},
    "measured": MEASURED_INPUTS,  # a tracked run's curve (ledger/measured.py)
}
_KEYS = {"benchmark", "publication", "method", "summary", "difference", "tried", "notes", "convention", "inputs",
         "sources", "yields", "cross_checks", "environment"}
_YIELD_RTOL = 1e-3  # a recorded yield is stale when it is off its recomputation by more than this


@dataclasses.dataclass(frozen=True)
class Computation:
    """One estimate from an analysis: a primary one or a cross-check."""

    label: str
    method: str
    inputs: dict
    sources: dict
    note: str = ""
    convention: Convention | None = None  # only needed for a reported figure

    def run(self, where: str, convention: Convention | None = None) -> Estimate:
        return compute(self.method, self.inputs, where=where, convention=self.convention or convention)


@dataclasses.dataclass(frozen=True)
class Analysis:
    path: Path
    benchmark: str
    publication: str
    summary: str
    convention: Convention
    primary: Computation
    yields_flops: float | None
    difference: str = ""
    tried: tuple[str, ...] = ()
    cross_checks: tuple[Computation, ...] = ()
    notes: str = ""

    @property
    def method(self) -> str:
        return self.primary.method

    def recompute(self) -> Estimate:
        est = self.primary.run(str(self.path), self.convention)
        got = Convention(est.flops_per_mac, est.utilization_discount, est.models)
        if got != self.convention:
            raise LedgerError(f"{self.path}: [convention] says {self.convention.describe()}, "
                              f"but the inputs give {got.describe()}.")
        return est

    def to_dict(self) -> dict:
        return {
            "path": str(self.path), "benchmark": self.benchmark, "publication": self.publication,
            "method": self.method, "summary": self.summary,
            "convention": dataclasses.asdict(self.convention),
            "inputs": self.primary.inputs, "sources": self.primary.sources,
            "yields_flops": self.yields_flops, "difference": self.difference, "tried": list(self.tried),
            "notes": self.notes,
        }


def compute(method: str, inputs: dict, *, where: str = "analysis", convention: Convention | None = None) -> Estimate:
    """Run one method on ``inputs`` (an analysis's [inputs] table), fraction_of_run applied.

    A reported figure carries its source's ``convention`` (unknown if None).
    """
    if method not in METHODS:
        raise LedgerError(f"{where}: method == {method!r}. Possible values are: {', '.join(METHODS)}.")
    args = dict(inputs)
    fraction = args.pop("fraction_of_run", None)
    unknown = sorted(set(args) - _INPUTS[method])
    if unknown:
        raise LedgerError(f"{where}: unknown input {unknown[0]!r} for method {method!r}; possible: "
                          f"{', '.join(sorted(_INPUTS[method] | {'fraction_of_run'}))}.")
    try:
        if method == "counting":
            est = estimate_ops(**args)
        elif method == "counted":
            est = estimate_counted(parse_phases(args), flops_per_mac=args.get("flops_per_mac", 2),
                                   models=args.get("models", 1), policy=args.get("policy", "matmul"))
        elif method == "measured":
            est = measured_estimate(args)
        elif method == "hardware":
            if "peak_tflops" in args:
                args["peak_flops"] = positive("peak_tflops", args.pop("peak_tflops")) * 1e12
            if "minutes" in args:  # speedrun records are timed in minutes
                if "hours" in args or "days" in args:
                    raise EstimateError("give the training time once: minutes, hours or days.")
                args["hours"] = positive("minutes", args.pop("minutes")) / 60
            est = estimate_hardware(**args)
        else:
            if "total_flops" not in args:
                raise EstimateError("method 'reported' needs inputs.total_flops.")
            conv = convention or Convention(None, None, 1)
            est = Estimate("reported", positive("total_flops", args["total_flops"]), dict(args),
                           flops_per_mac=conv.flops_per_mac, utilization_discount=conv.utilization_discount,
                           models=conv.models)
        if fraction is not None:
            f = positive("fraction_of_run", fraction)
            if f > 1:
                raise EstimateError(f"fraction_of_run == {fraction!r}, must be in (0, 1].")
            est = est.scaled(f, fraction_of_run=f)
    except TypeError as err:  # a required keyword missing
        raise LedgerError(f"{where}: method {method!r}: {err}.") from None
    except (EstimateError, CountError) as err:
        raise LedgerError(f"{where}: {err}") from None
    return est


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise LedgerError(f"{where}: {key} must be a table.")
    return value


def _convention(data: dict, where: str) -> Convention:
    table = _table(data, "convention", where)
    unknown = sorted(set(table) - {"flops_per_mac", "utilization_discount", "models"})
    if unknown:
        raise LedgerError(f"{where}: [convention] has unknown key {unknown[0]!r}.")
    mac = table.get("flops_per_mac")
    if mac not in (1, 2):
        raise LedgerError(f"{where}: convention.flops_per_mac == {mac!r}, must be 1 or 2.")
    discount = table.get("utilization_discount")
    try:
        if discount is not None:
            discount = positive("convention.utilization_discount", discount)
        models = int(positive("convention.models", table.get("models", 1)))
    except EstimateError as err:
        raise LedgerError(f"{where}: {err}") from None
    return Convention(mac, discount, models)


def load_analysis(path) -> Analysis:
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise LedgerError(f"{where}: not valid TOML: {err}.") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise LedgerError(f"{where}: unknown key {unknown[0]!r}; possible: {', '.join(sorted(_KEYS))}.")
    for key in ("benchmark", "publication", "method"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise LedgerError(f"{where}: {key} is missing; every analysis names its benchmark, publication "
                              "and method.")
    convention = _convention(data, where)
    inputs = _table(data, "inputs", where)
    primary = Computation("primary", data["method"], inputs, _table(data, "sources", where))
    checks = []
    for i, item in enumerate(data.get("cross_checks", []), start=1):
        at = f"{where}: cross_checks[{i}]"
        if not isinstance(item, dict) or "method" not in item:
            raise LedgerError(f"{at}: needs a method and inputs.")
        conv = _convention(item, at) if "convention" in item else None
        checks.append(Computation(item.get("label", f"cross-check {i}"), item["method"], _table(item, "inputs", at),
                                  _table(item, "sources", at), item.get("note", ""), conv))
    yields = _table(data, "yields", where).get("compute_flops")
    analysis = Analysis(path, data["benchmark"].strip(), data["publication"].strip(), data.get("summary", ""),
                        convention, primary, yields, data.get("difference", "").strip(),
                        tuple(data.get("tried", ())), tuple(checks), data.get("notes", "").strip())
    return analysis


def bundled_analyses_dir() -> Path:
    return Path(str(resources.files("algoeff").joinpath("data/analyses")))


def load_analyses(folder=None) -> dict[tuple[str, str], Analysis]:
    """Every analysis under ``folder`` (default: the bundled ones), by (benchmark, publication casefolded)."""
    folder = bundled_analyses_dir() if folder is None else Path(folder)
    if not folder.is_dir():
        raise LedgerError(f"{folder}: no such analyses folder.")
    out: dict[tuple[str, str], Analysis] = {}
    for path in sorted(folder.glob("*/*.toml")):
        analysis = load_analysis(path)
        if analysis.benchmark != path.parent.name:
            raise LedgerError(f"{path}: benchmark == {analysis.benchmark!r}, but the file is under "
                              f"{path.parent.name}/.")
        key = (analysis.benchmark, analysis.publication.casefold())
        if key in out:
            raise LedgerError(f"{path}: a second analysis of {analysis.publication!r} ({out[key].path}).")
        out[key] = analysis
    return out


def yield_is_stale(analysis: Analysis, est: Estimate) -> bool:
    if analysis.yields_flops is None:
        return True
    return not math.isclose(analysis.yields_flops, est.total_flops, rel_tol=_YIELD_RTOL)
