"""The resource governor: what one server lets its visitors allocate and run at once.

Every visitor of a deployed app shares one process (Streamlit Community Cloud: 1–2 cores, ~2.7 GB for everyone).
Before a page builds a trainer, ``Governor.admit`` checks the config's estimated cost (``toys.core.memory.estimate``:
peak memory and work per step, arithmetic only, nothing allocated) against

- the visitor's memory budget (all their trainers together),
- the server's memory budget (every visitor's trainers together) and the server's actual memory use,
- the work one step may take (a step that runs for seconds would hold a training slot and the page),

and either reserves the memory — released when the trainer is garbage-collected, i.e. replaced, or freed with its
closed session (``ui.sessions``) — or answers with a refusal that names the limit and the knobs to turn. A refused
config allocates nothing and the visitor keeps the model they had.

``Slots`` caps how many trainers train at the same moment: a playing page takes a slot for one tick and gives it
back, first come first served; a page that finds none within a tick shows "queued" and tries again on the next.

Budgets come from environment variables, else ``[governor]`` in ``.streamlit/secrets.toml``, else defaults sized
for a 2.7 GB Community Cloud app (``Budgets.load``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import logging
import math
import os
import threading
import weakref
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from toys.core.memory import RAISE, Cost

MB = 10**6  # budgets and messages in decimal megabytes
GFLOP = 10**9
_LOG = logging.getLogger("superposition.governor")


def _cgroup_cpus() -> float | None:
    """CPUs a cgroup (v2 ``cpu.max``, v1 quota/period) allows this process, if it sets a quota."""
    for quota_path, period_path in (
        ("/sys/fs/cgroup/cpu.max", None),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    ):
        try:
            with open(quota_path) as f:
                parts = f.read().split()
            if period_path:
                with open(period_path) as f:
                    parts = [parts[0], f.read().strip()]
        except (OSError, IndexError):
            continue
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit() and int(parts[1]) > 0:
            return int(parts[0]) / int(parts[1])
    return None


def machine_cpus() -> int:
    """Cores this process may use: the affinity mask, capped by a cgroup quota (a container sees the host's)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpus()
    return max(1, min(n, math.ceil(quota))) if quota else max(1, n)


@dataclass(frozen=True)
class Budgets:
    """Limits of one server process. Each field has an environment variable ``SUPERPOSITION_<FIELD>`` and a key
    ``<field>`` under ``[governor]`` in ``.streamlit/secrets.toml``; the environment wins."""

    session_mb: int = 400  # memory of one visitor's trainers together
    server_mb: int = 1200  # memory of every visitor's trainers together
    memory_mb: int = 2300  # the process's resident memory: no new trainer past it (2.7 GB Cloud app, some headroom)
    step_gflop: float = 2.0  # work of one training step (~1 s of one small core)
    setup_gflop: float = 100.0  # work done once when a model is built, e.g. training the model an SAE reads
    max_training: int = 0  # trainers training at the same moment; 0: one per core, at most 4

    @property
    def training_slots(self) -> int:
        return self.max_training or min(4, machine_cpus())

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Budgets:
        """Budgets from ``env`` (default: os.environ) over ``secrets`` (default: ``st.secrets['governor']`` when
        there is one) over the defaults. A value that is not a positive number raises ValueError naming it."""
        env = os.environ if env is None else env
        secrets = _secrets() if secrets is None else secrets
        values = {}
        for f in fields(cls):
            name = f"SUPERPOSITION_{f.name.upper()}"
            raw = env.get(name, secrets.get(f.name))
            if raw is None:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{name} (or governor.{f.name} in secrets.toml) must be a number, not {raw!r}")
            lowest = 0 if f.name == "max_training" else 1e-9
            if not (math.isfinite(value) and value >= lowest):
                raise ValueError(f"{name} (or governor.{f.name} in secrets.toml) must be positive, not {raw!r}")
            values[f.name] = value
        return cls(**values)


def _secrets() -> Mapping[str, Any]:
    """The ``[governor]`` table of Streamlit's secrets, or {} when there is no secrets file or no such table."""
    try:
        import streamlit as st

        table = st.secrets.get("governor", {})
    except Exception:  # noqa: BLE001  no secrets file is the usual case; a broken one must not stop the app
        return {}
    return dict(table) if isinstance(table, Mapping) else {}


def resident_bytes() -> int | None:
    """This process's resident memory (VmRSS), or None where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _mb(n: float) -> str:
    return f"{n / MB:,.0f} MB" if n < 10**10 else f"{n / 10**9:,.0f} GB"


def _knobs(cost: Cost, work: bool = False) -> str:
    """What to do about a cost, from its knobs (config fields): "lower batch size, n features; or raise log every"
    (``toys.core.memory.RAISE`` are the ones to raise). For the ``work`` of one step, the run's length and its
    logging do not matter and are left out."""
    knobs = [k for k in cost.knobs if not (work and k.endswith(("steps", "log_every")))]
    lower = [k.replace("_", " ") for k in knobs if k not in RAISE]
    higher = [k.replace("_", " ") for k in knobs if k in RAISE]
    said = [f"lower {', '.join(lower)}"] if lower else []
    said += [f"raise {', '.join(higher)}"] if higher else []
    return "; or ".join(said) if said else "make the model smaller"


class Slots:
    """At most ``n`` holders at once, served first come first served; ``hold(timeout)`` gives up after ``timeout``
    seconds (the holder is then "queued" and asks again later)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._busy = 0
        self._queue: collections.deque[object] = collections.deque()
        self._cond = threading.Condition()

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            me = object()
            self._queue.append(me)
            ok = self._cond.wait_for(lambda: self._busy < self.n and self._queue[0] is me, timeout)
            self._queue.remove(me)
            if ok:
                self._busy += 1
            self._cond.notify_all()  # the next in line may go (or move to the front)
            return ok

    def release(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[bool]:
        """``with slots.hold(t) as got:`` — ``got`` says whether a slot was taken (and is given back on exit)."""
        got = self.acquire(timeout)
        try:
            yield got
        finally:
            if got:
                self.release()


class Governor:
    """Memory reservations of every trainer in the process, the budgets they are checked against, and the training
    slots."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self.slots = Slots(budgets.training_slots)
        self._lock = threading.Lock()
        # (owner, key) -> (reservation id, bytes, shared run or None): a shared run is counted once for the server
        self._held: dict[tuple[str, str], tuple[int, int, Hashable | None]] = {}
        self._ids = itertools.count(1)

    def _server_total(self, skip: tuple[str, str] | None = None) -> int:
        """Bytes of every reservation (but ``skip``), each shared run counted once. Call with the lock held."""
        own = sum(b for k, (_, b, sh) in self._held.items() if sh is None and k != skip)
        shared: dict[Hashable, int] = {}
        for k, (_, b, sh) in self._held.items():
            if sh is not None and k != skip:
                shared[sh] = max(shared.get(sh, 0), b)
        return own + sum(shared.values())

    def reserved(self, owner: str | None = None) -> int:
        """Bytes reserved by ``owner`` (a session; a shared run counts in full for each of its viewers), or by the
        whole server (a shared run counted once)."""
        with self._lock:
            if owner is None:
                return self._server_total()
            return sum(v[1] for (o, _), v in self._held.items() if o == owner)

    def refusal(self, owner: str, key: str, cost: Cost, shared: Hashable | None = None) -> str | None:
        """Why ``cost`` may not be built for ``owner``'s trainer ``key`` (which it would replace), or None. A
        ``shared`` run that someone already holds needs no new memory of the server."""
        b = self.budgets
        knobs = _knobs(cost)
        if cost.flops > b.step_gflop * GFLOP:
            return (
                f"One training step of this model is about {cost.flops / GFLOP:,.1f} GFLOP, more than this server "
                f"allows per step ({b.step_gflop:g} GFLOP, SUPERPOSITION_STEP_GFLOP). "
                f"{_knobs(cost, work=True).capitalize()}."
            )
        if cost.setup_flops > b.setup_gflop * GFLOP:
            return (
                f"Building this model first trains another, about {cost.setup_flops / GFLOP:,.0f} GFLOP of work, "
                f"more than this server allows before a first step ({b.setup_gflop:g} GFLOP, "
                f"SUPERPOSITION_SETUP_GFLOP). "
                f"{_knobs(dataclasses.replace(cost, knobs=cost.setup_knobs or cost.knobs)).capitalize()}."
            )
        with self._lock:
            mine = sum(v[1] for (o, k), v in self._held.items() if o == owner and k != key)
            everyone = self._server_total(skip=(owner, key))
            exists = shared is not None and any(v[2] == shared for k, v in self._held.items() if k != (owner, key))
        if cost.bytes + mine > b.session_mb * MB:
            extra = f" (your other models on this server hold {_mb(mine)})" if mine else ""
            return (
                f"This model needs about {_mb(cost.bytes)}, more than one visitor may use on this server: "
                f"{_mb(b.session_mb * MB)}{extra} (SUPERPOSITION_SESSION_MB). {knobs.capitalize()}."
            )
        if exists:
            return None
        if cost.bytes + everyone > b.server_mb * MB:
            return (
                f"This model needs about {_mb(cost.bytes)}; the server's models already hold {_mb(everyone)} of the "
                f"{_mb(b.server_mb * MB)} it allows for all visitors together (SUPERPOSITION_SERVER_MB). "
                f"{knobs.capitalize()}, or try again when other visitors have left."
            )
        rss = resident_bytes()
        if rss is not None and rss + cost.bytes > b.memory_mb * MB:
            return (
                f"This model needs about {_mb(cost.bytes)} and the server already uses {_mb(rss)} of its "
                f"{_mb(b.memory_mb * MB)} (SUPERPOSITION_MEMORY_MB). {knobs.capitalize()}, or try again later."
            )
        return None

    def admit(self, owner: str, key: str, cost: Cost, shared: Hashable | None = None) -> tuple[int | None, str | None]:
        """Reserve ``cost`` for ``owner``'s trainer ``key`` (replacing what that key held; ``shared`` names the run
        it watches if it is a shared one) — (reservation id, None) — or refuse — (None, message) — leaving every
        reservation as it was."""
        why = self.refusal(owner, key, cost, shared)
        if why is not None:
            return None, why
        rid = next(self._ids)
        with self._lock:
            self._held[(owner, key)] = (rid, int(cost.bytes), shared)
        return rid, None

    def release(self, owner: str, key: str, rid: int | None = None) -> None:
        """Drop the reservation of ``owner``'s ``key`` (only if it is still ``rid``, when given)."""
        with self._lock:
            held = self._held.get((owner, key))
            if held is not None and (rid is None or held[0] == rid):
                del self._held[(owner, key)]

    def bind(self, owner: str, key: str, rid: int, trainer: Any) -> None:
        """Release reservation ``rid`` when ``trainer`` is garbage-collected (replaced, reset, or its session freed)."""
        weakref.finalize(trainer, self.release, owner, key, rid)


_governor: Governor | None = None
_governor_lock = threading.Lock()


def governor() -> Governor:
    """The process's governor, built from ``Budgets.load()`` on first use. Budgets that do not parse are logged and
    replaced by the defaults (the app keeps serving; the log names the variable)."""
    global _governor
    with _governor_lock:
        if _governor is None:
            try:
                budgets = Budgets.load()
            except ValueError as e:
                _LOG.error("%s; using the default budgets", e)
                budgets = Budgets()
            _governor = Governor(budgets)
        return _governor
