"""Shared runs (ui.shared): a viewer sees exactly what a trainer of its own would have, the run trains once for
everyone, frames are bounded and read-only, and a run lives only while someone watches it."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pytest

from toys import TMSConfig, TMSTrainer
from ui.shared import Run, RunStore, Viewer

CFG = TMSConfig(n_features=5, n_hidden=2, n_instances=3, batch_size=64, steps=600, log_every=10, seed=3)


def _trainer(cfg: TMSConfig = CFG) -> TMSTrainer:
    return TMSTrainer(cfg, engine="autograd")


def _counting(calls: list):
    def make(cfg):
        calls.append(cfg)
        return _trainer(cfg)

    return make


def test_a_viewer_sees_what_its_own_trainer_would_have():
    viewer = Viewer(Run(_trainer()), tick_s=0.3)
    for _ in range(3):
        viewer.advance(100)
    own = _trainer()
    own.advance(300)
    mine, theirs = viewer.snapshot(), own.snapshot()
    assert mine.step == theirs.step == 300
    np.testing.assert_array_equal(mine["W"], theirs["W"])
    np.testing.assert_array_equal(mine.loss, theirs.loss)
    np.testing.assert_array_equal(mine.loss_steps, theirs.loss_steps)


def test_a_late_viewer_replays_the_same_frames_without_training():
    run = Run(_trainer())
    first = Viewer(run, tick_s=0.3)
    seen = {}
    for _ in range(4):
        first.advance(100)
        seen[first.step] = first.snapshot()
    trained = run.trainer.step
    late = Viewer(run, tick_s=0.3)
    assert late.step == 0 and late.snapshot().step == 0 and len(late.snapshot().loss) == 0  # nothing logged yet
    for step in (100, 200, 300, 400):
        late.advance(100)
        snap = late.snapshot()
        assert snap.step == step
        np.testing.assert_array_equal(snap["W"], seen[step]["W"])
        np.testing.assert_array_equal(snap.loss, seen[step].loss)
    assert run.trainer.step == trained  # replay trained nothing


def test_replay_moves_at_the_runs_pace_and_stops_at_its_frontier():
    run = Run(_trainer())
    first = Viewer(run, tick_s=0.3)
    for _ in range(4):
        first.advance(100)
    run.rate = 1000.0  # steps per second, as if measured
    late = Viewer(run, tick_s=0.3)
    assert late.advance_for(0.1) == 100  # 0.1 s at 1,000 steps/s (frames every 100 steps here)
    late.advance_for(10.0)
    assert late.step == 400 and run.trainer.step == 400


def test_viewers_at_the_frontier_train_the_run_once_per_tick():
    run = Run(_trainer())
    a, b = Viewer(run, tick_s=60.0), Viewer(run, tick_s=60.0)
    a.advance_for(0.05)
    trained = run.trainer.step
    assert trained > 0
    b.advance(trained)  # catches up by replay
    assert b.at_frontier
    b.advance_for(0.05)  # a began training less than a tick ago: b does not train, it stays with the run
    assert run.trainer.step == trained and b.step == trained
    run.last_start = -float("inf")  # a tick later
    b.advance_for(0.05)
    assert run.trainer.step > trained and b.step == run.trainer.step


def test_step_trains_only_where_the_run_has_not_been():
    run = Run(_trainer())
    a = Viewer(run, tick_s=0.3)
    a.advance(250)
    b = Viewer(run, tick_s=0.3)
    # frames at 0 and 250 only: Step +100 shows the next recorded frame, 250, not a frame from before its target
    assert b.advance(100) == 250 and b.snapshot().step == 250 and run.trainer.step == 250
    assert b.advance(150) == 150 and run.trainer.step == 400
    assert b.advance(10_000) == CFG.steps - 400 and b.done and run.trainer.step == CFG.steps


def test_frames_are_thinned_evenly_to_their_budget_keeping_the_first_and_newest():
    trainer = _trainer()
    per_frame = sum(a.nbytes for a in trainer.snapshot().arrays.values())
    run = Run(trainer, frame_bytes=8 * per_frame)
    assert run.max_frames == 8
    viewer = Viewer(run, tick_s=0.3)
    for _ in range(60):
        viewer.advance(10)
    assert run.frames == run.max_frames
    steps = run._steps
    assert steps[0] == 0 and steps[-1] == 600
    assert max(np.diff(steps)) <= 2 * 600 / (run.max_frames - 1)  # no stretch of history thinned away
    snap = Viewer(run, tick_s=0.3).snapshot()
    assert snap.step == 0
    assert Run(_trainer(), frame_bytes=1).max_frames == 2  # the first and the newest, whatever their size
    # a head between frames sees the newest frame before it, with the loss log up to that frame
    mid = run.frame_step(333)
    late = Viewer(run, tick_s=0.3)
    late.head = 333
    view = late.snapshot()
    assert view.step == mid <= 333 and view.loss_steps[-1] == mid


def test_frames_are_read_only():
    viewer = Viewer(Run(_trainer()), tick_s=0.3)
    viewer.advance(50)
    snap = viewer.snapshot()
    with pytest.raises(ValueError):
        snap["W"][0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        snap.loss[0, 0] = 1.0


def test_the_store_shares_by_page_and_config_and_forgets_unwatched_runs():
    calls: list = []
    store = RunStore(tick_s=0.3)
    a = store.viewer("tms", CFG, _counting(calls))
    b = store.viewer("tms", CFG, _counting(calls))
    assert a.run is b.run and len(calls) == 1 and a is not b
    c = store.viewer("geo", CFG, _counting(calls))  # another page: its own run
    d = store.viewer("tms", dataclasses.replace(CFG, seed=4), _counting(calls))  # another seed
    assert c.run is not a.run and d.run is not a.run and len(calls) == 3
    assert len(store) == 3
    del a, b, c, d
    gc.collect()
    assert len(store) == 0
    store.viewer("tms", CFG, _counting(calls))
    assert len(calls) == 4  # rebuilt: nobody held it
