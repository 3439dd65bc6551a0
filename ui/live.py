"""Live training: Play / Pause / Step / Reset and a fragment that advances the trainer and redraws.

The trainer lives in ``st.session_state`` (one per visitor and page). While playing, a fragment runs every
``TICK_S`` seconds, trains for about ``TRAIN_S`` seconds, takes a snapshot and calls the page's draw function.
A NaN/inf loss pauses training with a message; a config that fails validation leaves the old trainer in place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import streamlit as st
import torch

import fastcore
from toys import Snapshot, Trainer, is_diverged
from ui.text import literal

TICK_S = 0.3
TRAIN_S = 0.25
WALL_WINDOW_S = 5.0  # the shown rate is steps ÷ wall time over this much of the latest play

# Every visitor's trainer runs on its own script thread. torch's intra-op thread pool on top of that oversubscribes
# a small machine: measured on 2 busy cores, a 3→6 model trained at 9–31 steps/s with 2 intra-op threads and at
# 820–1500 with 1; a 100→40 model at 3 vs 40–45. numba's parallel kernels likewise: with another process on both
# cores, the fused TMS step (tms_intro) ran about 2,100 steps/s on 2 threads (a step waits for the descheduled
# thread) and 3,600 on 1 (`python -m bench tms_intro_contended`). One thread of each per trainer, unless the
# deployer sets OMP_NUM_THREADS / NUMBA_NUM_THREADS (read at start-up).
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)
KERNEL_THREADS = None if "NUMBA_NUM_THREADS" in os.environ else 1


def _state(key: str) -> dict[str, Any]:
    return st.session_state.setdefault(
        key, {"trainer": None, "snap": None, "playing": False, "steps_per_s": None, "ticks": [], "error": None}
    )


def _reset(state: dict[str, Any], make_trainer: Callable[[Any], Trainer], cfg: Any) -> None:
    trainer = make_trainer(cfg)
    state.update(trainer=trainer, snap=trainer.snapshot(), steps_per_s=None, ticks=[], error=None)


def wall_rate(ticks: list[tuple[float, int]], now: float, step: int, window: float = WALL_WINDOW_S) -> float | None:
    """Steps ÷ wall time over the last ``window`` seconds of play, drawing and waiting included: ``ticks`` holds
    (time, step) at the start of each tick (pruned here to the window); None until two ticks are a moment apart."""
    ticks.append((now, step))
    while len(ticks) > 2 and now - ticks[1][0] >= window:
        ticks.pop(0)
    t0, s0 = ticks[0]
    return (step - s0) / (now - t0) if now - t0 > 0.05 else None


def _train(state: dict[str, Any], seconds: float | None = None, steps: int | None = None) -> None:
    trainer: Trainer = state["trainer"]
    if KERNEL_THREADS:
        fastcore.set_threads(KERNEL_THREADS)  # per thread: this visitor's script thread
    t0 = time.perf_counter()
    if steps is not None:
        n = trainer.advance(steps)
    else:  # chunks of ~1/20 of the tick, so one tick never runs far past its time
        n = trainer.advance_for(seconds, chunk=max(1, int((state["steps_per_s"] or 20) * seconds / 20)))
    snap = trainer.snapshot()
    dt = time.perf_counter() - t0
    if n and dt > 0:
        state["steps_per_s"] = n / dt
    if trainer.upgrade_engine():
        state["steps_per_s"] = None  # a new engine: its own rate
    state["snap"] = snap
    if is_diverged(snap):
        state["playing"] = False
        state["error"] = (
            f"Training diverged at step {snap.step} (the loss became NaN or infinite). It is paused; "
            "lower the learning rate or press Reset."
        )
    elif trainer.done:
        state["playing"] = False


def live_training(
    key: str,
    cfg: Any | None,
    make_trainer: Callable[[Any], Trainer],
    draw: Callable[[Snapshot, dict[str, Any]], None],
    step_size: int = 100,
) -> None:
    """Controls and live view for one trainer. ``cfg`` None means the controls are invalid: keep what we have."""
    state = _state(key)
    if cfg is not None and (state["trainer"] is None or state["trainer"].cfg != cfg):
        try:
            _reset(state, make_trainer, cfg)
        except (ValueError, RuntimeError) as e:
            st.error(f"Could not build this model: {literal(e, 400)}")
    trainer = state["trainer"]
    if trainer is None:
        st.info("Nothing to train yet: fix the settings above.")
        return

    def play() -> None:
        if trainer.done:
            _reset(state, make_trainer, trainer.cfg)
        state["error"] = None
        state["ticks"] = []
        state["playing"] = True

    def pause() -> None:
        state["playing"] = False

    def step() -> None:
        state["playing"] = False
        _train(state, steps=step_size)

    def reset() -> None:
        state["playing"] = False
        _reset(state, make_trainer, trainer.cfg)

    c1, c2, c3, _c4 = st.columns([1, 1, 1, 3])
    if state["playing"]:
        c1.button("Pause", icon=":material/pause:", on_click=pause, key=f"{key}_pause", width="stretch")
    else:
        c1.button(
            "Play",
            icon=":material/play_arrow:",
            on_click=play,
            key=f"{key}_play",
            type="primary",
            width="stretch",
            disabled=state["error"] is not None,
        )
    c2.button(
        f"Step +{step_size}",
        icon=":material/skip_next:",
        on_click=step,
        key=f"{key}_step",
        width="stretch",
        disabled=trainer.done or state["error"] is not None,
    )
    c3.button("Reset", icon=":material/restart_alt:", on_click=reset, key=f"{key}_reset", width="stretch")

    @st.fragment(run_every=TICK_S if state["playing"] else None)
    def view() -> None:
        wall = None
        if state["playing"]:
            wall = wall_rate(state["ticks"], time.perf_counter(), trainer.step)
            _train(state, seconds=TRAIN_S)
            if not state["playing"]:
                st.rerun(scope="app")
        if state["error"]:
            st.error(state["error"])
        snap = state["snap"]
        engine_rate = state["steps_per_s"]
        status = "training" if state["playing"] else ("done" if trainer.done else "paused")
        st.caption(
            f"step **{snap.step:,}** / {trainer.cfg.steps:,} · {status}"
            + (f" · **{wall:,.0f} steps/s**" if wall else "")
            + (f" · engine alone {engine_rate:,.0f} steps/s" if engine_rate else "")
            + f" · {trainer.device}"
            + f" · {trainer.engine_name} engine"
            + (
                f" (the {trainer.engine_pending} engine is compiling in the background and takes over when ready)"
                if trainer.engine_pending
                else ""
            )
        )
        st.progress(min(1.0, snap.step / trainer.cfg.steps))
        draw(snap, {"playing": state["playing"], "trainer": trainer})

    view()
