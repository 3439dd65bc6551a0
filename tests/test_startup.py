"""ui.startup: the library loads on its own thread; a run waiting for it gives way to a rerun at its next tick."""

from __future__ import annotations

import sys
import threading
import types
import uuid

import pytest

from ui.startup import Loader


class Rerun(Exception):
    """Stands for Streamlit's RerunException, raised from a script's Streamlit call when the visitor clicks."""


@pytest.fixture
def slow_module(tmp_path, monkeypatch):
    """A module whose import blocks until the test opens its gate, and counts how often its body ran."""
    gate = types.SimpleNamespace(open=threading.Event(), runs=0)
    gate_name, name = f"_gate_{uuid.uuid4().hex}", f"_slow_{uuid.uuid4().hex}"
    monkeypatch.setitem(sys.modules, gate_name, gate)
    (tmp_path / f"{name}.py").write_text(f"import {gate_name} as g\ng.runs += 1\nassert g.open.wait(30)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, gate
    gate.open.set()
    sys.modules.pop(name, None)


def test_a_rerun_ends_the_wait_while_the_import_goes_on(slow_module):
    name, gate = slow_module
    loader = Loader([name])
    ticks: list[float] = []

    def click(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) == 3:
            raise Rerun

    with pytest.raises(Rerun):
        loader.wait(click, tick_s=0.01)
    assert len(ticks) == 3 and ticks == sorted(ticks)
    assert not loader.loaded
    assert loader._thread is not None and loader._thread.is_alive()  # still importing, behind the gate

    gate.open.set()
    later: list[float] = []
    loader.wait(later.append, tick_s=0.01)  # the next run waits for the rest of the same import
    assert loader.loaded and name in sys.modules
    assert gate.runs == 1  # imported once, by the one thread

    after: list[float] = []
    loader.wait(after.append)
    assert after == []  # loaded: no note at all


def test_concurrent_runs_share_one_import(slow_module):
    name, gate = slow_module
    loader = Loader([name])
    started = [threading.Thread(target=loader.start) for _ in range(8)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    gate.open.set()
    loader.wait(lambda s: None, tick_s=0.01)
    assert gate.runs == 1


def test_an_import_error_reaches_every_waiting_run(tmp_path, monkeypatch):
    name = f"_broken_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loader = Loader([name])
    for _ in range(2):
        with pytest.raises(ImportError, match="no torch here"):
            loader.wait(lambda s: None, tick_s=0.01)
    assert not loader.loaded


def test_yield_to_visitor_uses_streamlits_own_check(monkeypatch):
    """Outside a script run there is nothing to give way to; inside, the context's ``yield_check`` (which the pinned
    Streamlit sets to the check it runs at every message a script sends) raises the visitor's rerun."""
    import dataclasses

    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    from ui import startup

    assert startup.yield_to_visitor() is False
    assert "yield_check" in {f.name for f in dataclasses.fields(ScriptRunContext)}

    def rerun() -> None:
        raise Rerun

    monkeypatch.setattr(startup, "get_script_run_ctx", lambda **_: types.SimpleNamespace(yield_check=rerun))
    with pytest.raises(Rerun):
        startup.yield_to_visitor()
