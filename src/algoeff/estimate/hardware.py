"""Hardware time: devices x time x peak FLOP/s at a precision x utilization.

The method of OpenAI's "AI and Compute" appendix (method 2) and Sevilla et al.
2022. Peaks come from the catalog ``data/hardware.csv`` (one row per device,
each with its vendor source); default utilizations from ``data/utilization.csv``
(33% for GPUs per AI and Compute; Epoch's 40% for TPUs; named assumptions for
the rest). AI and Compute expects the two methods to agree within a factor of 2-3.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from importlib import resources

from algoeff.errors import EstimateError

from .result import Estimate, positive, positive_int

__all__ = [
    "PRECISIONS",
    "Catalog",
    "Device",
    "Utilization",
    "estimate_hardware",
    "load_catalog",
    "load_utilizations",
    "resolve_utilization",
]

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


@dataclasses.dataclass(frozen=True)
class Device:
    name: str
    aliases: tuple[str, ...]
    kind: str  # "gpu", "tpu" or "cpu"
    vendor: str
    year: int  # release year
    peak_tflops: dict[str, float]  # precision -> dense peak TFLOPS per device; absent if not published
    source: str
    notes: str = ""

    def peak_flops(self, precision: str) -> float:
        """Peak FLOP/s at ``precision``, or EstimateError listing the precisions known for the device."""
        if precision not in PRECISIONS:
            raise EstimateError(f"Unknown precision {precision!r}. Possible values are: {', '.join(PRECISIONS)}.")
        if precision not in self.peak_tflops:
            raise EstimateError(f"the catalog has no {precision} peak for {self.name}; known precisions for it: "
                                f"{', '.join(self.peak_tflops)}.")
        return self.peak_tflops[precision] * 1e12

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["aliases"] = list(self.aliases)
        return data


def _norm(name: str) -> str:
    # "Tesla K80", "tesla-k80" and "k80" name the same device
    text = re.sub(r"[\s_\-]+", "", str(name).lower())
    return re.sub(r"^(nvidia|tesla|geforce|google|cloud)+", "", text)


class Catalog:
    """Devices by name or alias, case- and spacing-insensitive."""

    def __init__(self, devices, path: str = "hardware.csv"):
        self.devices = list(devices)
        self.path = path
        self._by_name: dict[str, Device] = {}
        for device in self.devices:
            for name in (device.name, *device.aliases):
                key = _norm(name)
                other = self._by_name.get(key)
                if other is not None and other is not device:
                    raise EstimateError(f"{path}: device name {name!r} is used by both {other.name} and {device.name}.")
                self._by_name[key] = device

    def __iter__(self):
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def names(self) -> list[str]:
        return [d.name for d in self.devices]

    def __getitem__(self, name: str) -> Device:
        device = self._by_name.get(_norm(name))
        if device is None:
            raise EstimateError(f"Unknown device {name!r}. Known devices: {', '.join(self.names())}.")
        return device

    def fastest(self, *, precision: str, until_year: int, kind: str = "gpu") -> Device:
        """The catalog device of ``kind`` with the highest ``precision`` peak released by ``until_year``."""
        found = [d for d in self.devices if d.kind == kind and d.year <= until_year and precision in d.peak_tflops]
        if not found:
            raise EstimateError(f"the catalog has no {kind} with a {precision} peak released by {until_year}.")
        return max(found, key=lambda d: d.peak_tflops[precision])


def _float_cell(path, line, column, text):
    try:
        return positive(f"{path}:{line}: {column}", text)
    except EstimateError:
        raise EstimateError(f"{path}:{line}: {column} == {text!r}, must be a number > 0 (TFLOPS) or empty.") from None


def _read_catalog(text: str, path: str) -> Catalog:
    devices = []
    reader = csv.DictReader(text.splitlines())
    missing = {"device", "kind", "year", "source", *PRECISIONS} - set(reader.fieldnames or ())
    if missing:
        raise EstimateError(f"{path}: missing columns: {', '.join(sorted(missing))}.")
    for line, row in enumerate(reader, start=2):
        if not row["device"].strip():
            raise EstimateError(f"{path}:{line}: device is empty.")
        if not row["source"].strip():
            raise EstimateError(f"{path}:{line}: source is empty; every catalog row needs its source.")
        peaks = {p: _float_cell(path, line, p, row[p]) for p in PRECISIONS if row[p].strip()}
        if not peaks:
            raise EstimateError(f"{path}:{line}: {row['device']} has no peak at any precision.")
        try:
            year = int(row["year"])
        except ValueError:
            raise EstimateError(f"{path}:{line}: year == {row['year']!r}, must be a year such as 2017.") from None
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split(",") if a.strip())
        devices.append(Device(row["device"].strip(), aliases, row["kind"].strip(), row.get("vendor", "").strip(),
                              year, peaks, row["source"].strip(), (row.get("notes") or "").strip()))
    return Catalog(devices, path)


def load_catalog(path=None) -> Catalog:
    """The hardware catalog: the bundled ``data/hardware.csv`` unless ``path`` is given."""
    if path is None:
        return _bundled_catalog()
    with open(path, encoding="utf-8") as fh:
        return _read_catalog(fh.read(), str(path))


@functools.cache
def _bundled_catalog() -> Catalog:
    res = resources.files("algoeff").joinpath("data/hardware.csv")
    return _read_catalog(res.read_text(encoding="utf-8"), "data/hardware.csv")


@dataclasses.dataclass(frozen=True)
class Utilization:
    name: str
    value: float
    default_for: str  # device kind it is the default for, or ""
    applies_to: str
    source: str


@functools.cache
def load_utilizations() -> dict[str, Utilization]:
    """Named utilization assumptions, each with its source (data/utilization.csv)."""
    res = resources.files("algoeff").joinpath("data/utilization.csv")
    out = {}
    for line, row in enumerate(csv.DictReader(res.read_text(encoding="utf-8").splitlines()), start=2):
        value = positive(f"data/utilization.csv:{line}: value", row["value"])
        out[row["name"]] = Utilization(row["name"], value, row["default_for"], row["applies_to"], row["source"])
    return out


def resolve_utilization(utilization, device: Device | None) -> Utilization:
    """A number in (0, 1], a named assumption, or None for the device kind's default."""
    named = load_utilizations()
    if utilization is None:
        if device is None:
            raise EstimateError("utilization is required when the peak is given instead of a catalog device.")
        for item in named.values():
            if item.default_for == device.kind:
                return item
        raise EstimateError(f"no default utilization for {device.kind} devices; give one "
                            f"(a number in (0, 1] or one of: {', '.join(named)}).")
    if isinstance(utilization, str) and not re.fullmatch(r"[0-9.eE+-]+", utilization.strip()):
        if utilization not in named:
            raise EstimateError(f"Unknown utilization {utilization!r}. Possible values are: a number in (0, 1], "
                                f"{', '.join(named)}.")
        return named[utilization]
    value = positive("utilization", utilization)
    if value > 1:
        raise EstimateError(f"utilization == {utilization!r}, must be in (0, 1] (a fraction of peak).")
    return Utilization("given", value, "", "", "given by the user")


def estimate_hardware(*, device=None, count, hours=None, days=None, precision: str | None = None, utilization=None,
                      peak_flops=None, models=1, catalog: Catalog | None = None) -> Estimate:
    """Training compute from hardware time: count x time x peak x utilization (x models).

    Name a catalog ``device`` (its ``precision`` peak is used) or give ``peak_flops``
    per device directly (e.g. a sustained throughput). Give the wall-clock time
    as exactly one of ``hours`` or ``days``. Without ``precision``: fp32, or for a
    device that publishes no fp32 peak (TPU v3: bf16 only) the first precision it
    does publish, in PRECISIONS order; ``inputs["precision_source"]`` says which.
    """
    if (hours is None) == (days is None):
        raise EstimateError("give the training time as exactly one of hours or days"
                            + (", not both." if hours is not None else "; got neither."))
    seconds = (positive("hours", hours) * SECONDS_PER_HOUR if hours is not None
               else positive("days", days) * HOURS_PER_DAY * SECONDS_PER_HOUR)
    count = positive("count", count)
    models = positive_int("models", models)
    if (device is None) == (peak_flops is None):
        raise EstimateError("give exactly one of device (from the catalog) or peak_flops"
                            + (", not both." if device is not None else "; got neither."))
    dev = None
    if device is not None:
        dev = (catalog or load_catalog())[device]
        precision_source = "given"
        if precision is None:
            precision = "fp32" if "fp32" in dev.peak_tflops else next(p for p in PRECISIONS if p in dev.peak_tflops)
            precision_source = ("default (fp32)" if precision == "fp32" else
                                f"default: {dev.name} publishes no fp32 peak, so its {precision} peak")
        peak = dev.peak_flops(precision)
    else:
        peak = positive("peak_flops", peak_flops)
    util = resolve_utilization(utilization, dev)
    total = count * seconds * peak * util.value * models
    inputs = {"device": dev.name if dev else None, "count": count, "hours": seconds / SECONDS_PER_HOUR,
              "days": seconds / SECONDS_PER_HOUR / HOURS_PER_DAY, "precision": precision if dev else None,
              "precision_source": precision_source if dev else None,
              "peak_flops": peak, "peak_source": dev.source if dev else "given",
              "utilization": util.value, "utilization_source": util.source, "models": models}
    discount = None if util.value == 1.0 else util.value
    return Estimate("hardware", total, inputs, flops_per_mac=2, utilization_discount=discount, models=models)
