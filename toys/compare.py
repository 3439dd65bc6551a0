"""Two variants of one toy trained side by side, step for step, from the same seed (same init, same data stream).

``PairTrainer`` looks like a ``Trainer`` to the live view: ``advance``, ``advance_for``, ``snapshot``, ``done``.
Its snapshot stacks both variants (arrays prefixed ``a/`` and ``b/``, loss columns of a then of b);
``split`` turns it back into one snapshot per variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from toys.snapshot import Snapshot
from toys.train import Composite, Trainer


@dataclass(frozen=True)
class Pair:
    """Configs of two variants; they must share the step budget so they can train in lockstep."""

    a: Any
    b: Any

    def __post_init__(self) -> None:
        if type(self.a) is not type(self.b):
            raise ValueError(f"cannot compare a {type(self.a).__name__} with a {type(self.b).__name__}")
        if self.a.steps != self.b.steps:
            raise ValueError(f"steps={self.b.steps} of variant B must equal steps={self.a.steps} of variant A")

    @property
    def steps(self) -> int:
        return self.a.steps


class PairTrainer(Composite):
    """Advances two trainers together; ``make`` builds a trainer from one config."""

    def __init__(self, pair: Pair, make: Callable[[Any], Trainer]) -> None:
        self.cfg = pair
        self.a, self.b = make(pair.a), make(pair.b)
        self.parts = (self.a, self.b)

    def snapshot(self) -> Snapshot:
        sa, sb = self.a.snapshot(), self.b.snapshot()
        arrays = {f"a/{k}": v for k, v in sa.arrays.items()} | {f"b/{k}": v for k, v in sb.arrays.items()}
        return Snapshot(
            toy=sa.toy,
            config={"a": sa.config, "b": sb.config},
            step=sa.step,
            arrays=arrays,
            loss=np.concatenate([sa.loss, sb.loss], axis=1),
            loss_steps=sa.loss_steps,
            extras={"pair": True},
        )


def split(snap: Snapshot) -> tuple[Snapshot, Snapshot]:
    """The two variants' snapshots from a pair snapshot."""
    n = snap.loss.shape[1] // 2
    out = []
    for side, cols in (("a", slice(0, n)), ("b", slice(n, None))):
        arrays = {k[2:]: v for k, v in snap.arrays.items() if k.startswith(f"{side}/")}
        out.append(Snapshot(snap.toy, snap.config[side], snap.step, arrays, snap.loss[:, cols], snap.loss_steps))
    return out[0], out[1]
