"""Shared test setup: import ``toys`` before anything loads torch, so OpenMP threads wait passively (see toys)."""

import toys  # noqa: F401
