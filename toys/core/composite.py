"""Trainers made of other trainers, following the same protocol (``toys.core.train.Trainer``).

- ``Lockstep``: parts that advance together, step for step (``PairTrainer`` here; best-of-K seeds in
  ``toys.tms.train``);
- ``Sequential``: parts that train one after the other, the next one built from the previous one's final snapshot
  (the circuits model and its transcoder, ``toys.circuits.pipeline``).

A composite's snapshot packs its parts one way (``pack``): every part's arrays under ``"{part}/{name}"``, its loss
log under ``"{part}/_loss"`` and ``"{part}/_loss_steps"``, its toy, config, step and extras in
``extras["parts"]``; ``unpack`` gives the parts' snapshots back exactly. The composite's own ``loss`` is its
headline curve (a pair's columns side by side; a sequence's running stage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from toys.core.memory import HELD_SNAPSHOTS, Cost, estimate, logged_steps
from toys.core.snapshot import Snapshot
from toys.core.train import Advancing, Trainer

LOSS, LOSS_STEPS = "_loss", "_loss_steps"


def pack(
    toy: str,
    config: dict[str, Any],
    step: int,
    loss: np.ndarray,
    loss_steps: np.ndarray,
    parts: dict[str, Snapshot],
    **extras: Any,
) -> Snapshot:
    """One snapshot holding ``parts`` (see the module docstring) with the composite's own loss curve."""
    arrays: dict[str, np.ndarray] = {}
    meta = {}
    for name, s in parts.items():
        if "/" in name:
            raise ValueError(f"part name {name!r} must not contain '/'")
        arrays |= {f"{name}/{k}": v for k, v in s.arrays.items()}
        arrays[f"{name}/{LOSS}"] = s.loss
        arrays[f"{name}/{LOSS_STEPS}"] = s.loss_steps
        meta[name] = {"toy": s.toy, "config": s.config, "step": s.step, "extras": s.extras}
    return Snapshot(toy, config, step, arrays, loss, loss_steps, {"parts": meta, **extras})


def part_of(snap: Snapshot, name: str, part: Trainer, step: int) -> Snapshot:
    """Part ``name`` of a packed snapshot as a snapshot of ``part``'s toy and config at ``step``, read from the
    arrays alone (not from ``extras``, which a saved file does not carry): to load into that part."""
    prefix = f"{name}/"
    arrays = {k.removeprefix(prefix): v for k, v in snap.arrays.items() if k.startswith(prefix)}
    if LOSS not in arrays or LOSS_STEPS not in arrays:
        raise ValueError(f"the file lacks part {name!r}'s loss log")
    loss, steps = arrays.pop(LOSS), arrays.pop(LOSS_STEPS)
    return Snapshot(part.toy, part.cfg.to_dict(), step, arrays, loss, steps)


def check_parts(snap: Snapshot, names: tuple[str, ...]) -> None:
    """Every array of a packed snapshot belongs to one of the parts ``names``."""
    stray = sorted(k for k in snap.arrays if k.split("/", 1)[0] not in names or "/" not in k)
    if stray:
        raise ValueError(f"the file holds arrays of no part of this model: {', '.join(map(repr, stray[:5]))}")


def unpack(snap: Snapshot) -> dict[str, Snapshot]:
    """The parts' snapshots of a packed snapshot, by part name (in packing order)."""
    out = {}
    for name, meta in snap.extras.get("parts", {}).items():
        prefix = f"{name}/"
        arrays = {k.removeprefix(prefix): v for k, v in snap.arrays.items() if k.startswith(prefix)}
        loss, steps = arrays.pop(LOSS), arrays.pop(LOSS_STEPS)
        out[name] = Snapshot(
            meta["toy"], meta["config"], int(meta["step"]), arrays, loss, steps, meta.get("extras", {})
        )
    return out


class Composite(Advancing):
    """Shared by the composites: device and engine name come from the parts; ``advance``, ``step``, ``done`` and
    ``snapshot`` from the subclass."""

    cfg: Any
    parts: tuple[Trainer, ...]

    @property
    def device(self) -> torch.device:
        return self.parts[0].device

    @property
    def engine_name(self) -> str:
        return " + ".join(sorted({t.engine_name for t in self.parts}))

    @property
    def engine_pending(self) -> str | None:
        return next((t.engine_pending for t in self.parts if t.engine_pending), None)

    def upgrade_engine(self) -> bool:
        switched = [t.upgrade_engine() for t in self.parts]  # every part, no short cut
        return any(switched)

    def snapshot(self) -> Snapshot:
        raise NotImplementedError


class Lockstep(Composite):
    """Parts that advance together, step for step (they share one step budget)."""

    @property
    def step(self) -> int:
        return self.parts[0].step

    @property
    def done(self) -> bool:
        return all(t.done for t in self.parts)

    def advance(self, k: int) -> int:
        n = self.parts[0].advance(k)
        for t in self.parts[1:]:
            t.advance(k)
        return n

    def advance_for(self, seconds: float, chunk: int = 50) -> int:
        if len(self.parts) == 1:
            return self.parts[0].advance_for(seconds, chunk)
        return super().advance_for(seconds, chunk)


class Sequential(Composite):
    """Parts that train one after the other: ``_next_part(i)`` builds part i once part i − 1 is done (part 0 is
    built by the subclass). ``cfg.steps`` is the sum of the parts' budgets."""

    def __init__(self, cfg: Any, first: Trainer, n_parts: int) -> None:
        self.cfg = cfg
        self.parts = (first,)
        self.n_parts = n_parts

    def _next_part(self, i: int) -> Trainer:
        raise NotImplementedError

    @property
    def step(self) -> int:
        return sum(t.step for t in self.parts)

    @property
    def done(self) -> bool:
        return len(self.parts) == self.n_parts and self.parts[-1].done

    @property
    def stage_index(self) -> int:
        """Index of the part that trains next (``n_parts`` when all are done)."""
        return self.n_parts if self.done else len(self.parts) - 1 + self.parts[-1].done

    def advance(self, k: int) -> int:
        n = 0
        while n < k and not self.done:
            if self.parts[-1].done:
                self.parts = (*self.parts, self._next_part(len(self.parts)))
            n += self.parts[-1].advance(k - n)
        return n


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

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict()}


@estimate.register(Pair)
def pair_cost(pair: Pair) -> Cost:
    """Both variants train at once: their costs add, and each snapshot also holds both loss curves side by side
    (float64, one column per instance)."""
    side_by_side = sum(8 * logged_steps(c) * getattr(c, "n_instances", 1) for c in (pair.a, pair.b))
    return estimate(pair.a) + estimate(pair.b) + Cost(HELD_SNAPSHOTS * side_by_side, 0)


class PairTrainer(Lockstep):
    """Two variants of one toy trained side by side, step for step, from the same seed (same init, same data
    stream); ``make`` builds a trainer from one config. The snapshot's loss holds a's columns, then b's."""

    def __init__(self, pair: Pair, make: Callable[[Any], Trainer]) -> None:
        self.cfg = pair
        self.a, self.b = make(pair.a), make(pair.b)
        self.parts = (self.a, self.b)

    def load_snapshot(self, snap: Snapshot) -> None:
        """Load a saved pair: each variant from its part of the arrays (``StepTrainer.load_snapshot``)."""
        if snap.config != self.cfg.to_dict():
            raise ValueError("the file's config is not this pair's config")
        check_parts(snap, ("a", "b"))
        for name, part in (("a", self.a), ("b", self.b)):
            part.load_snapshot(part_of(snap, name, part, snap.step))

    def snapshot(self) -> Snapshot:
        sa, sb = self.a.snapshot(), self.b.snapshot()
        return pack(
            sa.toy,
            self.cfg.to_dict(),
            sa.step,
            np.concatenate([sa.loss, sb.loss], axis=1),
            sa.loss_steps,
            {"a": sa, "b": sb},
            pair=True,
        )


def split(snap: Snapshot) -> tuple[Snapshot, Snapshot]:
    """The two variants' snapshots from a pair snapshot."""
    parts = unpack(snap)
    return parts["a"], parts["b"]
