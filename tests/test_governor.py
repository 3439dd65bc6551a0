"""The resource governor (ui.governor): budgets from the environment and secrets, refusals naming the limit and the
knobs, shared runs counted once, reservations released with their trainer, and training slots."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from toys.core.memory import Cost
from ui import governor as gv
from ui.governor import MB, Budgets, Governor, Slots

GB = 1000 * MB


@pytest.fixture(autouse=True)
def low_rss(monkeypatch):
    """The process's own memory is not under test here (except where a test sets it)."""
    monkeypatch.setattr(gv, "resident_bytes", lambda: 100 * MB)


def test_budgets_defaults_then_secrets_then_environment():
    assert Budgets.load(env={}, secrets={}) == Budgets()
    b = Budgets.load(env={}, secrets={"session_mb": 100, "step_gflop": "0.5"})
    assert (b.session_mb, b.step_gflop, b.server_mb) == (100, 0.5, Budgets().server_mb)
    b = Budgets.load(env={"SUPERPOSITION_SESSION_MB": "50"}, secrets={"session_mb": 100})
    assert b.session_mb == 50


@pytest.mark.parametrize("raw", ["lots", "-1", "nan", "inf", "0"])
def test_a_bad_budget_is_named(raw):
    with pytest.raises(ValueError, match="SUPERPOSITION_SERVER_MB"):
        Budgets.load(env={"SUPERPOSITION_SERVER_MB": raw}, secrets={})


def test_training_slots_default_to_the_cores_at_most_four(monkeypatch):
    monkeypatch.setattr(gv, "machine_cpus", lambda: 2)
    assert Budgets().training_slots == 2
    monkeypatch.setattr(gv, "machine_cpus", lambda: 64)
    assert Budgets().training_slots == 4
    assert Budgets(max_training=7).training_slots == 7


def test_over_the_session_budget_is_refused_naming_limit_and_knobs():
    g = Governor(Budgets(session_mb=100, server_mb=1000))
    rid, why = g.admit("a", "tms", Cost(150 * MB, 10, ("batch_size", "n_instances", "log_every")))
    assert rid is None
    assert "SUPERPOSITION_SESSION_MB" in why and "150 MB" in why
    assert "lower batch size, n instances" in why.lower() and "raise log every" in why.lower()
    assert g.reserved() == 0


def test_a_visitors_models_add_up_but_a_replaced_one_does_not():
    g = Governor(Budgets(session_mb=100, server_mb=1000))
    assert g.admit("a", "tms", Cost(60 * MB, 1))[1] is None
    assert g.admit("a", "tms", Cost(60 * MB, 1))[1] is None  # replaces the first: 60, not 120
    assert g.reserved("a") == 60 * MB
    why = g.admit("a", "abs", Cost(60 * MB, 1))[1]
    assert why is not None and "your other models" in why
    assert g.admit("b", "abs", Cost(60 * MB, 1))[1] is None  # another visitor has their own budget


def test_the_server_budget_counts_everyone_and_a_shared_run_once():
    g = Governor(Budgets(session_mb=100, server_mb=200))
    assert g.admit("a", "tms", Cost(90 * MB, 1), shared="run1")[1] is None
    for visitor in "bcdefg":  # six more viewers of the same run: no new memory
        assert g.admit(visitor, "tms", Cost(90 * MB, 1), shared="run1")[1] is None
    assert g.reserved() == 90 * MB
    assert g.admit("h", "tms", Cost(90 * MB, 1), shared="run2")[1] is None
    why = g.admit("i", "tms", Cost(90 * MB, 1), shared="run3")[1]
    assert why is not None and "SUPERPOSITION_SERVER_MB" in why


def test_the_process_memory_guard(monkeypatch):
    g = Governor(Budgets(session_mb=1000, server_mb=1000, memory_mb=500))
    monkeypatch.setattr(gv, "resident_bytes", lambda: 450 * MB)
    why = g.admit("a", "tms", Cost(100 * MB, 1))[1]
    assert why is not None and "SUPERPOSITION_MEMORY_MB" in why
    assert g.admit("a", "tms", Cost(10 * MB, 1))[1] is None


def test_work_per_step_is_capped():
    g = Governor(Budgets(step_gflop=1.0))
    why = g.admit("a", "cc", Cost(MB, 3 * 10**9, ("batch_size", "steps", "tc_steps", "log_every")))[1]
    assert why is not None and "SUPERPOSITION_STEP_GFLOP" in why and "Lower batch size." in why
    assert "steps" not in why and "log every" not in why  # they do not change the work of one step
    assert g.admit("a", "cc", Cost(MB, 10**9 // 2))[1] is None


def test_work_before_the_first_step_is_capped():
    g = Governor(Budgets(setup_gflop=10.0))
    cost = Cost(MB, 10**6, ("batch_size", "model_steps", "n_true"), setup_flops=11 * 10**9, setup_knobs=("n_true",))
    why = g.admit("a", "sae", cost)[1]
    assert why is not None and "SUPERPOSITION_SETUP_GFLOP" in why and "Lower n true." in why
    assert g.admit("a", "sae", Cost(MB, 10**6, ("model_steps",), setup_flops=9 * 10**9))[1] is None
    assert (Cost(1, 2, setup_flops=3) + Cost(1, 2, setup_flops=4)).setup_flops == 7


def test_a_reservation_goes_with_its_trainer():
    class Model:
        pass

    g = Governor(Budgets())
    model = Model()
    rid, _ = g.admit("a", "tms", Cost(50 * MB, 1))
    g.bind("a", "tms", rid, model)
    assert g.reserved("a") == 50 * MB
    newer = Model()  # a rebuilt model replaces the reservation; the old one's release must not drop the new one
    rid2, _ = g.admit("a", "tms", Cost(70 * MB, 1))
    g.bind("a", "tms", rid2, newer)
    del model
    gc.collect()
    assert g.reserved("a") == 70 * MB
    del newer
    gc.collect()
    assert g.reserved("a") == 0


def test_slots_cap_how_many_hold_at_once():
    slots = Slots(2)
    assert slots.acquire(0.01) and slots.acquire(0.01)
    t0 = time.perf_counter()
    assert not slots.acquire(0.05)
    assert time.perf_counter() - t0 >= 0.04
    slots.release()
    assert slots.acquire(0.01)


def test_slots_serve_the_waiting_in_order():
    slots = Slots(1)
    assert slots.acquire(0.01)
    order: list[int] = []
    threads = []
    for i in range(4):
        t = threading.Thread(target=lambda i=i: slots.acquire(10) and (order.append(i), slots.release()))
        t.start()
        threads.append(t)
        while slots.waiting < i + 1:  # each joins the queue before the next
            time.sleep(0.001)
    slots.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3]


def test_slots_hold_gives_back_on_exit_and_on_error():
    slots = Slots(1)
    with slots.hold(0.01) as got:
        assert got and slots.busy == 1
    assert slots.busy == 0
    with pytest.raises(RuntimeError), slots.hold(0.01):
        raise RuntimeError
    assert slots.busy == 0
