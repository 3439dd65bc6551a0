"""Shared runs: visitors who train the same config watch one training.

A trainer's trajectory is fixed by its config (seed included), so when a talk's audience opens the same preset there
is no need to train it thirty times. ``RunStore`` keeps, per page and config, one ``Run``: the trainer, the frames it
has passed through (weights at the steps where it was drawn, thinned evenly to a memory budget) and the latest loss log.
Each visitor holds a ``Viewer``: their own play head on that run, with the trainer's interface (``advance``,
``advance_for``, ``snapshot``, ``step``, ``done``, …), so ``ui.live`` drives it as it drives a trainer.

- A viewer behind the run's frontier replays recorded frames at the pace the run was trained; one at the frontier
  trains the run on — at most one visitor per tick (``TICK_S``), so thirty viewers cost about what one does.
- Pause, Step and Reset move only the visitor's own head; Reset goes back to step 0 and replays.
- A loaded model (``own``) gets a run of its own, outside the store: its trajectory is not its config's.
- The store holds runs weakly: a run lives while a viewer does (its visitor's session state), so a closed tab or a
  changed config frees it once nobody else watches it.
- Frames are read-only numpy arrays shared by every viewer: a page that wrote into one would raise, not corrupt
  another visitor's view.
"""

from __future__ import annotations

import bisect
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

import numpy as np

from toys.core.snapshot import Snapshot

FRAME_BYTES = 8 * 2**20  # recorded weights per run, at most (frames are thinned evenly past this)
MAX_FRAMES = 1000
MIN_FRAMES = 2  # the first and the newest, whatever their size


def run_key(key: str, cfg: Any) -> Hashable:
    """A run is one page's trainer for one config: configs are dataclasses, equal exactly when their reprs are."""
    return (key, type(cfg).__qualname__, repr(cfg))


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()  # the trainer's own array stays as it was; only what viewers get is read-only
    view.flags.writeable = False
    return view


def _frozen(snap: Snapshot) -> Snapshot:
    return replace(
        snap,
        arrays={k: _read_only(a) for k, a in snap.arrays.items()},
        loss=_read_only(snap.loss),
        loss_steps=_read_only(snap.loss_steps),
    )


def _nbytes(snap: Snapshot) -> int:
    return sum(a.nbytes for a in snap.arrays.values())


_EMPTY_LOSS = np.zeros((0, 0))
_EMPTY_STEPS = np.zeros(0, dtype=np.int64)


class Run:
    """One trainer and the frames it has passed through. ``train`` runs under the run's lock; frames are read
    under a separate one, so viewers replay while the run trains."""

    def __init__(self, trainer: Any, frame_bytes: int = FRAME_BYTES) -> None:
        self.trainer = trainer
        self.cfg = trainer.cfg
        self.lock = threading.Lock()  # training
        self._frames_lock = threading.Lock()  # frames and latest
        self._frames: list[Snapshot] = []  # weights only, steps increasing
        self._steps: list[int] = []
        self.latest: Snapshot | None = None  # the frontier, with the whole loss log
        self.rate: float | None = None  # steps per second of training, as last measured
        self.last_start = -float("inf")  # time.monotonic() when a viewer last began training it
        first = trainer.snapshot()
        per_frame = max(1, _nbytes(first))
        self.max_frames = int(min(MAX_FRAMES, max(MIN_FRAMES, frame_bytes // per_frame)))
        self._record(first)

    @property
    def step(self) -> int:
        return self.latest.step

    @property
    def done(self) -> bool:
        return self.trainer.done

    def _record(self, snap: Snapshot) -> None:
        snap = _frozen(snap)
        frame = replace(snap, loss=_EMPTY_LOSS, loss_steps=_EMPTY_STEPS)
        with self._frames_lock:
            self.latest = snap
            if self._steps and self._steps[-1] == snap.step:
                self._frames[-1] = frame
            else:
                self._frames.append(frame)
                self._steps.append(snap.step)
            if len(self._frames) > self.max_frames:  # drop the frame whose neighbours are closest: even spacing
                st = self._steps
                i = min(range(1, len(st) - 1), key=lambda j: st[j + 1] - st[j - 1])
                del self._frames[i], self._steps[i]

    def train(self, *, steps: int | None = None, seconds: float | None = None, chunk: int = 50) -> int:
        """Train on (``steps`` more, or for ``seconds``) and record the frame reached; returns steps run. The caller
        holds ``lock``."""
        t0 = time.perf_counter()
        n = self.trainer.advance(steps) if steps is not None else self.trainer.advance_for(seconds, chunk=chunk)
        dt = time.perf_counter() - t0
        if n and dt > 0:
            self.rate = n / dt
        self.trainer.upgrade_engine()
        self._record(self.trainer.snapshot())
        return n

    def frame_step(self, head: int) -> int:
        """The step of the newest frame at or before ``head``."""
        with self._frames_lock:
            i = bisect.bisect_right(self._steps, head) - 1
            return self._steps[max(i, 0)]

    def next_frame(self, head: int) -> int:
        """The step of the first frame after ``head`` (the frontier if none)."""
        with self._frames_lock:
            i = bisect.bisect_right(self._steps, head)
            return self._steps[i] if i < len(self._steps) else self.latest.step

    def view(self, head: int) -> Snapshot:
        """The snapshot a viewer at ``head`` sees: the newest frame at or before it, with the loss log up to it."""
        with self._frames_lock:
            i = max(bisect.bisect_right(self._steps, head) - 1, 0)
            frame, latest = self._frames[i], self.latest
        n = int(np.searchsorted(latest.loss_steps, frame.step, side="right"))
        return replace(frame, loss=latest.loss[:n], loss_steps=latest.loss_steps[:n])

    @property
    def frames(self) -> int:
        return len(self._frames)


class Viewer:
    """A visitor's play head on a shared run, with the trainer interface ``ui.live`` uses."""

    def __init__(self, run: Run, tick_s: float) -> None:
        self.run = run
        self.cfg = run.cfg
        self.head = 0
        self.tick_s = tick_s

    # what ui.live reads of a trainer
    @property
    def step(self) -> int:
        return self.head

    @property
    def done(self) -> bool:
        return self.head >= self.cfg.steps

    @property
    def device(self):
        return self.run.trainer.device

    @property
    def engine_name(self) -> str:
        return self.run.trainer.engine_name

    @property
    def engine_pending(self) -> str | None:
        return self.run.trainer.engine_pending

    def upgrade_engine(self) -> bool:
        return False  # the run upgrades its own trainer while training

    @property
    def at_frontier(self) -> bool:
        """Whether moving on means training the run (no recorded frame ahead of this head)."""
        return self.head >= self.run.step and not self.done

    def snapshot(self) -> Snapshot:
        return self.run.view(self.head)

    def advance(self, k: int) -> int:
        """Move the head ``k`` steps on (fewer at the end), training the run where it has not been yet. Behind the
        frontier the head moves to the first recorded frame at or past the target, so that what is shown moves on
        by at least ``k`` (frames are where the run was drawn, not every step)."""
        target = min(self.head + max(0, int(k)), self.cfg.steps)
        if target > self.run.step:
            with self.run.lock:
                if target > self.run.step:
                    self.run.train(steps=target - self.run.step)
        if target < self.run.step:
            target = self.run.next_frame(target - 1)
        old, self.head = self.head, min(target, self.run.step)
        return self.head - old

    def advance_for(self, seconds: float, chunk: int = 50) -> int:
        """About ``seconds`` of play: replay recorded frames at the pace the run trained, or, at the frontier, train
        the run on — unless another viewer began training it within the last tick (then catch up to it)."""
        old = self.head
        if self.done:
            return 0
        if self.head < self.run.step:  # replay
            rate = self.run.rate or 0.0
            self.head = min(self.run.step, max(self.run.next_frame(self.head), self.head + int(rate * seconds)))
            return self.head - old
        now = time.monotonic()
        if now - self.run.last_start >= self.tick_s and self.run.lock.acquire(timeout=seconds):
            try:
                if self.run.step <= self.head:  # nobody trained it meanwhile
                    self.run.last_start = now
                    self.run.train(seconds=seconds, chunk=chunk)
            finally:
                self.run.lock.release()
        self.head = self.run.step
        return self.head - old


class RunStore:
    """Process-wide runs by page and config, held weakly (a run lives while some visitor's viewer does)."""

    def __init__(self, tick_s: float, frame_bytes: int = FRAME_BYTES) -> None:
        self.tick_s = tick_s
        self.frame_bytes = frame_bytes
        self._runs: dict[Hashable, weakref.ref[Run]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, cfg: Any) -> Run | None:
        with self._lock:
            ref = self._runs.get(run_key(key, cfg))
            return ref() if ref is not None else None

    def viewer(self, key: str, cfg: Any, make_trainer: Callable[[Any], Any]) -> Viewer:
        """A new viewer (head at step 0) of the run of ``key`` and ``cfg``, building the run if nobody has it."""
        rk = run_key(key, cfg)
        run = self.get(key, cfg)
        if run is None:  # built outside the lock (it may take a while); if someone else built it meanwhile, theirs
            built = Run(make_trainer(cfg), self.frame_bytes)
            with self._lock:
                ref = self._runs.get(rk)
                run = ref() if ref is not None else None
                if run is None:
                    run = built
                    self._runs[rk] = weakref.ref(run)
                for dead in [k for k, r in self._runs.items() if r() is None]:
                    del self._runs[dead]
        return Viewer(run, self.tick_s)

    def own(self, trainer: Any) -> Viewer:
        """A viewer of a run nobody else watches (a loaded model: its trajectory is not its config's), with the
        head at the trainer's step. The store does not hold it."""
        viewer = Viewer(Run(trainer, self.frame_bytes), self.tick_s)
        viewer.head = viewer.run.step
        return viewer

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values() if r() is not None)
