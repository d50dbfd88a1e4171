"""FlopReport: what one counted step (or forward pass) cost, split by phase, op and module."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["FlopReport", "Tally"]


class Tally:
    """Running counts of one counted span; a FlopReport is made from one or more of them."""

    __slots__ = ("phases", "mac_flops", "by_op", "by_module", "uncounted")

    def __init__(self):
        self.phases = {"forward": 0, "backward": 0, "optimizer": 0}
        self.mac_flops = 0  # forward FLOPs of matmul-class ops (2 per multiply-add)
        self.by_op: dict[str, int] = defaultdict(int)
        self.by_module: dict[str, int] = defaultdict(int)
        self.uncounted: dict[str, int] = defaultdict(int)

    def add(self, other: "Tally"):
        for key, value in other.phases.items():
            self.phases[key] += value
        self.mac_flops += other.mac_flops
        for src, dst in ((other.by_op, self.by_op), (other.by_module, self.by_module),
                         (other.uncounted, self.uncounted)):
            for key, value in src.items():
                dst[key] += value


@dataclass(frozen=True)
class FlopReport:
    """FLOPs of one step; a multiply-add is 2 FLOPs.

    ``macs`` is the forward pass's multiply-adds of matmul-class ops (matmul,
    convolution, attention, recurrent cells): the unit of torchvision's ``_ops``,
    THOP and Hernandez & Brown (2020). ``uncounted_ops`` maps ops that ran with no
    formula to their call count: their FLOPs are missing from every figure.
    """

    forward: int
    backward: int
    optimizer: int
    macs: int
    by_module: dict = field(default_factory=dict)
    by_op: dict = field(default_factory=dict)
    uncounted_ops: dict = field(default_factory=dict)
    policy: str = "matmul"
    causal: str = "full"

    @property
    def total(self) -> int:
        return self.forward + self.backward + self.optimizer

    @classmethod
    def from_tallies(cls, tallies, *, policy: str, causal: str) -> "FlopReport":
        phases = {"forward": 0, "backward": 0, "optimizer": 0}
        mac_flops = 0
        by_op: dict[str, int] = defaultdict(int)
        by_module: dict[str, int] = defaultdict(int)
        uncounted: dict[str, int] = defaultdict(int)
        for tally in tallies:
            for key, value in tally.phases.items():
                phases[key] += value
            mac_flops += tally.mac_flops
            for src, dst in ((tally.by_op, by_op), (tally.by_module, by_module), (tally.uncounted, uncounted)):
                for key, value in src.items():
                    dst[key] += value
        return cls(
            forward=phases["forward"],
            backward=phases["backward"],
            optimizer=phases["optimizer"],
            macs=mac_flops // 2,
            by_module=dict(sorted(by_module.items())),
            by_op=dict(sorted(by_op.items(), key=lambda kv: (-kv[1], kv[0]))),
            uncounted_ops=dict(sorted(uncounted.items())),
            policy=policy,
            causal=causal,
        )

    def to_dict(self) -> dict:
        """JSON-ready; the CLI's ``--json`` prints this."""
        return {
            "forward_flops": self.forward,
            "backward_flops": self.backward,
            "optimizer_flops": self.optimizer,
            "total_flops": self.total,
            "macs": self.macs,
            "policy": self.policy,
            "causal": self.causal,
            "flops_per_mac": 2,
            "by_module": dict(self.by_module),
            "by_op": dict(self.by_op),
            "uncounted_ops": dict(self.uncounted_ops),
        }
