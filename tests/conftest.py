"""Shared test setup: import ``toys`` before anything loads torch, so OpenMP threads wait passively (see toys);
no background kernel compilation in the pages run here (AppTest), so that every test sees the engines it asks for
(the browser tests start a real server, which compiles in the background as deployed); server-wide budgets out of
the way of the AppTests (see below)."""

import os

import pytest
import torch

import toys  # noqa: F401

os.environ["SUPERPOSITION_WARMUP"] = "0"
# The AppTests of a whole run share one process, and a finished test's session (with its model's reservation in
# ui.governor) lives until the garbage collector frees it: the server-wide budgets would count every earlier test.
# Each test's own session still has the default per-visitor budget; tests/test_governor.py checks the rest.
os.environ.setdefault("SUPERPOSITION_SERVER_MB", "1000000")
os.environ.setdefault("SUPERPOSITION_MEMORY_MB", "1000000")


@pytest.fixture
def one_torch_thread():
    """One torch intra-op thread for the test (as the app runs each trainer): the circuit models are tiny, so one
    thread is faster than two, and far faster while other tests share the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def fresh_server():
    """Each test its own store of shared runs (ui.shared) and its own governor (ui.governor), as if on its own
    server: a run a test left behind (its AppTest session not yet collected) must not be shared with the next
    test's visitor, and AppTest gives every session the same id, so reservations of earlier tests would count
    against the next test's per-visitor budget."""
    import ui.governor
    import ui.live
    from ui.shared import RunStore

    ui.live._runs = RunStore(ui.live.TICK_S)
    ui.governor._governor = None
    yield
