"""What training a config costs, estimated from its fields alone, and whether it fits the device.

``estimate(cfg) -> Cost`` is arithmetic on the config: it allocates nothing and answers in microseconds even for
absurd sizes, so a page (through the resource governor) and every trainer (``StepTrainer.__init__``) can refuse a
config before anything is allocated. Each family registers the estimate of its configs next to them
(``@estimate.register(TMSConfig)``); ``toys.core`` itself knows no family. ``Cost.knobs`` names the config fields
that bring the cost down, most effective first; ``log_every`` is the one to raise rather than lower.

The helpers below are the parts every trainer shares: the loss log ``StepTrainer`` allocates whole, up front
(``log_bytes``), and what a trainer holds besides its own tensors (``trainer_bytes``): its parameters with their
gradients, Adam's two moments and the update's temporaries, and the snapshots a page keeps.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import torch

FLOAT_BYTES = 4
USABLE_FRACTION = 0.5
PARAM_COPIES = 6  # a trained float32 parameter: itself, its gradient, Adam's two moments, two temporaries of the update
HELD_SNAPSHOTS = 2  # the snapshot a page shows while the trainer takes the next one
LOGGED_STEP_BYTES = 48  # a logged step's number in the trainer's list (an int object and its pointer, list slack)
TRAINER_OVERHEAD = 2**20  # a trainer's Python objects, tensor headers and allocator slack, whatever its sizes
ADAM_FLOPS = 16  # floating-point operations per parameter of one Adam/AdamW update
RAISE = ("log_every",)  # knobs that bring the cost down when raised; every other knob is lowered


@dataclass(frozen=True)
class Cost:
    """An upper estimate of what training a config takes.

    ``bytes``: the peak memory its trainer holds while training (parameters, optimizer state, loss log, the heaviest
    step's batch and activations, fixed tensors, the snapshots a page keeps). ``flops``: floating-point operations of
    one training step (forward, backward, update). ``knobs``: the config fields that lower it, most effective first.
    ``setup_flops``: work done once, when the trainer is built, before its first step (e.g. training the model a
    dictionary reads; 0 for most), lowered by the fields ``setup_knobs``. Costs of parts trained at once add up.
    """

    bytes: int
    flops: int
    knobs: tuple[str, ...] = ()
    setup_flops: int = 0
    setup_knobs: tuple[str, ...] = ()

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        knobs = tuple(dict.fromkeys(self.knobs + other.knobs))
        setup_knobs = tuple(dict.fromkeys(self.setup_knobs + other.setup_knobs))
        return Cost(
            self.bytes + other.bytes, self.flops + other.flops, knobs, self.setup_flops + other.setup_flops, setup_knobs
        )


@functools.singledispatch
def estimate(cfg: Any, **context: Any) -> Cost:
    """The cost of training ``cfg`` (see ``Cost``); TypeError for a type nobody registered an estimate for."""
    raise TypeError(
        f"no cost estimate for {type(cfg).__module__}.{type(cfg).__qualname__}: "
        "register one with @toys.core.memory.estimate.register"
    )


def logged_steps(cfg: Any) -> int:
    """Rows of a ``StepTrainer``'s loss log: every ``log_every``-th step, the last and step 0's slot."""
    return cfg.steps // cfg.log_every + 1


def log_bytes(cfg: Any, columns: int) -> int:
    """The loss log of a ``StepTrainer``: a float32 row of ``columns`` for every logged step of the whole run."""
    return logged_steps(cfg) * columns * FLOAT_BYTES


def trainer_bytes(cfg: Any, columns: int, params: int, held: int = 0, transient: int = 0, arrays: int = 0) -> int:
    """Peak bytes of a ``StepTrainer`` of ``cfg`` with a loss log of ``columns`` and ``params`` float32 parameters
    trained by Adam (``PARAM_COPIES`` each), holding ``held`` bytes of other tensors, at most ``transient`` bytes of
    temporaries at any moment (a step's batch, activations and gradients; its initialisation; a snapshot's
    evaluation), the list of logged step numbers, and ``HELD_SNAPSHOTS`` snapshots, each a float64 copy of the loss
    log with its int64 step numbers, a copy of the parameters and ``arrays`` bytes of further arrays; and
    ``TRAINER_OVERHEAD``."""
    log, n_logged = log_bytes(cfg, columns), logged_steps(cfg)
    snapshot = 2 * log + 8 * n_logged + FLOAT_BYTES * params + arrays
    own = log + LOGGED_STEP_BYTES * n_logged + PARAM_COPIES * FLOAT_BYTES * params
    return TRAINER_OVERHEAD + own + held + transient + HELD_SNAPSHOTS * snapshot


def knob_advice(knobs: tuple[str, ...]) -> str:
    """'lower a, b or c, or raise log_every' for a cost's knobs."""
    lower = [k for k in knobs if k not in RAISE]
    higher = [k for k in knobs if k in RAISE]
    parts = []
    if lower:
        parts.append("lower " + (f"{', '.join(lower[:-1])} or {lower[-1]}" if len(lower) > 1 else lower[0]))
    if higher:
        parts.append("raise " + " or ".join(higher))
    return ", or ".join(parts) if parts else "choose a smaller model"


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                raw = f.read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw)
    return None


def available_bytes(device: torch.device) -> int:
    """Free memory on the device (GPU: free device memory; CPU: available RAM, capped by a cgroup limit)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    limit = _cgroup_limit()
    return min(avail, limit) if limit else avail


def check_fits(needed: int, device: torch.device, what: str, knobs: tuple[str, ...] = ()) -> None:
    """Raise ValueError with sizes and the knobs to turn when ``needed`` bytes exceed the usable part of the device's
    free memory."""
    usable = int(available_bytes(device) * USABLE_FRACTION)
    if needed > usable:
        raise ValueError(
            f"{what} needs about {_size(needed)}, more than the {_size(usable)} this {device.type.upper()} can "
            f"spare: {knob_advice(knobs)}"
        )


def _size(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"
