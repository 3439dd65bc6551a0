"""Kernels compiled ahead of use: fastcore.warm in the background, the TMS trainer meanwhile on autograd, and the
pages that wait for a kernel saying so instead of blocking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastcore import warm
from tests.apptest import run_page
from toys import TMSConfig, TMSTrainer


def test_a_group_compiles_in_the_background_then_is_ready():
    w = warm.Warmup()
    assert not w.compiling("cluster") and w.wait("cluster", 0)  # never started: nothing to wait for
    w.start(("cluster",))
    w.start(("cluster",))  # once per process
    assert w.wait("cluster", timeout=300)
    assert not w.compiling("cluster") and not w.errors
    with pytest.raises(ValueError, match="unknown kernel group"):
        w.start(("nope",))


def test_the_compile_child_prints_each_group_when_done(capsys):
    assert warm.main(["cluster", "coactivation"]) == 0
    assert capsys.readouterr().out.split() == ["cluster", "coactivation"]


def test_tms_trains_on_autograd_while_numba_compiles_then_switches(monkeypatch):
    compiling = {"tms": True}
    monkeypatch.setattr(warm, "compiling", lambda group: compiling.get(group, False))
    trainer = TMSTrainer(TMSConfig(n_instances=3, steps=400, batch_size=64, log_every=50, device="cpu"))
    assert trainer.engine_name == "autograd" and trainer.engine_pending == "numba"
    trainer.advance(150)
    assert not trainer.upgrade_engine()  # still compiling
    W = trainer.params["W"].detach().clone()
    compiling["tms"] = False
    assert trainer.upgrade_engine()
    assert trainer.engine_name == "numba" and trainer.engine_pending is None
    torch.testing.assert_close(trainer.params["W"].detach(), W, rtol=0, atol=0)  # weights untouched by the switch
    state = trainer.optimizer.state[trainer.params["W"]]
    assert float(state["step"]) == 150 and state["exp_avg_sq"].abs().sum() > 0  # Adam's moments carried over
    snap = trainer.run()
    assert snap.step == 400 and np.isfinite(snap.loss).all()
    assert float(trainer.optimizer.state[trainer.params["W"]]["step"]) == 400
    assert not trainer.upgrade_engine()


def test_an_explicit_engine_is_never_swapped(monkeypatch):
    monkeypatch.setattr(warm, "compiling", lambda group: True)
    trainer = TMSTrainer(TMSConfig(steps=10, device="cpu"), engine="numba")
    assert trainer.engine_name == "numba" and trainer.engine_pending is None


def test_the_geometry_page_says_the_kernel_is_coming_instead_of_waiting(monkeypatch):
    monkeypatch.setattr(warm, "compiling", lambda group: group == "geometry")
    at = run_page("geometry", None, 180)
    assert not at.exception
    notes = " ".join(i.value for i in at.info)
    assert "compiling in the background" in notes
    monkeypatch.setattr(warm, "compiling", lambda group: False)
    at.run()
    assert not at.exception and "compiling in the background" not in " ".join(i.value for i in at.info)
    assert any("Thomson energy" in m.label for m in at.metric)


def test_the_live_caption_says_which_engine_is_on_its_way(monkeypatch):
    monkeypatch.setattr(warm, "compiling", lambda group: True)
    at = run_page("superposition", None, 180)
    at.button(key="tms_step").click().run()
    caption = " ".join(c.value for c in at.caption)
    assert not at.exception and "autograd engine" in caption and "numba engine is compiling" in caption


def test_the_compile_child_ends_when_its_server_is_gone(tmp_path):
    """A stopped server leaves no compiler running: the child watches its parent and exits with it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=root)  # empty cache: minutes of work
    starter = (
        "import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-m', 'fastcore.warm']); "
        "print(p.pid, flush=True); time.sleep(3)"
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True, env=env)
    child = int(parent.stdout.readline())
    parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline and Path(f"/proc/{child}").exists():
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.2)
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"
