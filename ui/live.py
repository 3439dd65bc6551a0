"""Live training: Play / Pause / Step / Reset and a fragment that advances the model and redraws.

A visitor's model is a ``ui.shared.Viewer`` in ``st.session_state`` (one per visitor and page): their play head on
the process's one run of that page and config, so visitors of the same config share one training. Before a config
is built, ``ui.governor`` checks its estimated memory and work per step against the server's budgets; a refused
config allocates nothing and the visitor keeps the model they had. While playing, a fragment runs every ``TICK_S``
seconds and, holding one of the server's training slots (or "queued" without one), trains (or replays) for about
``TRAIN_S`` seconds, takes a snapshot and calls the page's draw function. A NaN/inf loss pauses training with a
message; a config that fails validation leaves the old model in place.

Below the view, the model can be saved (safetensors weights + JSON config, from the snapshot of the latest tick, also
while playing: ``ui.export.model_buttons``) and a saved one loaded (``ui.upload``). A loaded model gets a run of its
own (``RunStore.own``), paused at its step, and stays while the page's controls stay as they were when it was loaded
(its config need not be one the controls can make); changing a control trains the controls' config again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

import fastcore
from toys import Snapshot, Trainer, is_diverged
from toys.core.memory import estimate
from toys.core.saved import SavedModel, parse_config, restore
from ui.export import model_buttons
from ui.governor import governor
from ui.shared import FRAME_BYTES, RunStore, Viewer, run_key
from ui.talk import take_autoplay, talk_mode
from ui.text import literal
from ui.upload import check_slot, model_uploader

TICK_S = 0.3
TRAIN_S = 0.25
STEP_WAIT_S = 2.0  # how long Step waits for a training slot before saying the server is busy
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


_runs = RunStore(TICK_S)


def runs() -> RunStore:
    """The process's shared runs (``ui.shared``): visitors training the same config on the same page watch one."""
    return _runs


def _state(key: str) -> dict[str, Any]:
    return st.session_state.setdefault(
        key,
        {
            "trainer": None,
            "snap": None,
            "playing": False,
            "steps_per_s": None,
            "ticks": [],
            "error": None,
            "queued": False,
            "note": None,
            "pinned": None,  # the controls' config when a saved model was loaded: it stays while they do
        },
    )


def _owner() -> str:
    """The visitor: their session's id (one process serves every visitor)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _reset(state: dict[str, Any], key: str, make_trainer: Callable[[Any], Trainer], cfg: Any) -> str | None:
    """Build a fresh trainer for ``cfg`` in ``state`` if the governor admits its estimated cost; otherwise return
    the refusal and leave ``state`` (the model the visitor had) as it was."""
    gov, owner = governor(), _owner()
    cost = estimate(cfg)
    cost = dataclasses.replace(cost, bytes=cost.bytes + FRAME_BYTES)  # and the run's recorded frames
    rid, refusal = gov.admit(owner, key, cost, shared=run_key(key, cfg))
    if refusal is not None:
        return refusal
    try:
        trainer = runs().viewer(key, cfg, make_trainer)
    except BaseException:
        gov.release(owner, key, rid)
        raise
    gov.bind(owner, key, rid, trainer)
    state.update(trainer=trainer, snap=trainer.snapshot(), steps_per_s=None, ticks=[], error=None, note=None)
    return None


def _install(
    state: dict[str, Any], key: str, make_trainer: Callable[[Any], Trainer], controls_cfg: Any, saved: SavedModel
) -> None:
    """Make a saved model the visitor's, paused at its step, if it belongs here, the governor admits it and it loads
    into a trainer of its config; otherwise raise ValueError and leave ``state`` as it was."""
    snap = saved.snapshot
    check_slot(saved, key, state["snap"].toy if state["snap"] is not None else None)
    cfg = parse_config(snap.toy, snap.config)
    gov, owner, slot = governor(), _owner(), f"{key}#loaded"
    cost = estimate(cfg)
    rid, refusal = gov.admit(owner, slot, dataclasses.replace(cost, bytes=cost.bytes + FRAME_BYTES))
    if refusal is not None:
        raise ValueError(refusal)
    try:
        viewer = runs().own(restore(make_trainer(cfg), snap))
    except BaseException:
        gov.release(owner, slot, rid)
        raise
    gov.bind(owner, slot, rid, viewer)
    state.update(
        trainer=viewer,
        snap=viewer.snapshot(),
        playing=False,
        steps_per_s=None,
        ticks=[],
        error=None,
        note=None,
        pinned=controls_cfg,
    )


def wall_rate(ticks: list[tuple[float, int]], now: float, step: int, window: float = WALL_WINDOW_S) -> float | None:
    """Steps ÷ wall time over the last ``window`` seconds of play, drawing and waiting included: ``ticks`` holds
    (time, step) at the start of each tick (pruned here to the window); None until two ticks are a moment apart."""
    ticks.append((now, step))
    while len(ticks) > 2 and now - ticks[1][0] >= window:
        ticks.pop(0)
    t0, s0 = ticks[0]
    return (step - s0) / (now - t0) if now - t0 > 0.05 else None


def _train(state: dict[str, Any], seconds: float | None = None, steps: int | None = None) -> None:
    viewer: Viewer = state["trainer"]
    if KERNEL_THREADS:
        fastcore.set_threads(KERNEL_THREADS)  # per thread: this visitor's script thread
    if steps is not None:
        viewer.advance(steps)
    else:  # chunks of ~1/20 of the tick, so one tick never runs far past its time
        viewer.advance_for(seconds, chunk=max(1, int((viewer.run.rate or 20) * seconds / 20)))
    snap = viewer.snapshot()
    state["steps_per_s"] = viewer.run.rate  # the run's engine alone, whoever trained it
    state["snap"] = snap
    if is_diverged(snap):
        state["playing"] = False
        state["error"] = (
            f"Training diverged at step {snap.step} (the loss became NaN or infinite). It is paused; "
            "lower the learning rate or press Reset."
        )
    elif viewer.done:
        state["playing"] = False


@contextlib.contextmanager
def _slot(viewer: Viewer, timeout: float) -> Iterator[bool]:
    """A training slot for a viewer that will train its run; one that replays recorded frames needs none."""
    if not viewer.at_frontier:
        yield True
        return
    with governor().slots.hold(timeout) as got:
        yield got


def _busy_note() -> str:
    slots = governor().slots
    return (
        f"The server is busy: {slots.n} models are training at once, its limit (SUPERPOSITION_MAX_TRAINING). "
        "Press Step again in a moment, or Play to train in turn."
    )


def live_training(
    key: str,
    cfg: Any | None,
    make_trainer: Callable[[Any], Trainer],
    draw: Callable[[Snapshot, dict[str, Any]], None],
    step_size: int = 100,
    talk: Callable[[Snapshot, dict[str, Any]], None] | None = None,
) -> None:
    """Controls and live view for one trainer. ``cfg`` None means the controls are invalid: keep what we have.

    In talk mode (``ui.talk``) it plays on arrival, and the view is ``talk(snap, info)`` (the page's one large
    chart; ``draw`` where the page has none)."""
    state = _state(key)
    pinned = state["pinned"] is not None and cfg == state["pinned"]
    if cfg is not None and not pinned and (state["trainer"] is None or state["trainer"].cfg != cfg):
        try:
            refusal = _reset(state, key, make_trainer, cfg)
        except (ValueError, RuntimeError) as e:
            st.error(f"Could not build this model: {literal(e, 400)}")
        else:
            state["pinned"] = None
            if refusal is not None:
                kept = " The model below is the one you had; it keeps its state." if state["trainer"] else ""
                st.warning(refusal + kept, icon=":material/block:")

    def uploader() -> None:
        with st.expander("Load a saved model"):
            model_uploader(key, lambda saved: _install(state, key, make_trainer, cfg, saved), state)

    trainer = state["trainer"]
    if trainer is None:
        st.info("Nothing to train yet: fix the settings above.")
        uploader()
        return

    def rebuild() -> bool:
        refusal = _reset(state, key, make_trainer, trainer.cfg)
        state["note"] = refusal
        return refusal is None

    def play() -> None:
        if trainer.done and not rebuild():
            return
        state["error"] = None
        state["ticks"] = []
        state["playing"] = True

    def pause() -> None:
        state["playing"] = False

    def step() -> None:
        state["playing"] = False
        with _slot(state["trainer"], STEP_WAIT_S) as got:
            if got:
                _train(state, steps=step_size)
        state["note"] = None if got else _busy_note()

    def reset() -> None:
        state["playing"] = False
        rebuild()

    talking = talk_mode()
    if take_autoplay(key) and not state["playing"] and state["error"] is None:
        play()
    if talking:  # Play / Pause and Reset only: the view needs the room
        c1, c3 = st.columns([1, 1, 4])[:2]
        c2 = None
    else:
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
    if c2 is not None:
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
            with _slot(trainer, TICK_S) as got:
                if got:
                    _train(state, seconds=TRAIN_S)
            state["queued"] = not got
            if not state["playing"]:
                st.rerun(scope="app")
        if state["error"]:
            st.error(state["error"])
        if state["note"]:
            st.info(state["note"], icon=":material/info:")
        snap = state["snap"]
        engine_rate = state["steps_per_s"]
        status = "training" if state["playing"] else ("done" if trainer.done else "paused")
        if state["playing"] and state["queued"]:
            slots = governor().slots
            status = f"queued: {slots.n} models train at once on this server, {slots.waiting + 1} waiting"
        line, aside = st.columns([3, 2], vertical_alignment="center") if talking else (st, None)
        line.caption(
            f"step **{snap.step:,}** / {trainer.cfg.steps:,} · {status}"
            + (f" · **{wall:,.0f} steps/s**" if wall else "")
            + (
                ""
                if talking  # one line at projector size: what the audience needs
                else (f" · engine alone {engine_rate:,.0f} steps/s" if engine_rate else "")
                + f" · {trainer.device}"
                + f" · {trainer.engine_name} engine"
                + (
                    f" (the {trainer.engine_pending} engine is compiling in the background and takes over when ready)"
                    if trainer.engine_pending
                    else ""
                )
            )
        )
        if not talking:
            st.progress(min(1.0, snap.step / trainer.cfg.steps))
        info = {"playing": state["playing"], "trainer": trainer, "aside": aside}
        (talk if talking and talk is not None else draw)(snap, info)
        if not talking:  # a projector shows the model, not its files
            with st.expander("Save this model"):
                model_buttons(snap, key)

    view()
    if not talking:
        uploader()
