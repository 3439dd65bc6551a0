"""Shared test setup: import ``toys`` before anything loads torch, so OpenMP threads wait passively (see toys);
no background kernel compilation in the pages run here (AppTest), so that every test sees the engines it asks for
(the browser tests start a real server, which compiles in the background as deployed)."""

import os

import pytest
import torch

import toys  # noqa: F401

os.environ["SUPERPOSITION_WARMUP"] = "0"


@pytest.fixture
def one_torch_thread():
    """One torch intra-op thread for the test (as the app runs each trainer): the circuit models are tiny, so one
    thread is faster than two, and far faster while other tests share the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
