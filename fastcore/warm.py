"""Compile the kernels ahead of use, in the background, so that no page waits on numba.

A new server process (every Streamlit Cloud wake-up starts one in a fresh container, with an empty numba cache)
would otherwise compile each kernel on its first call, inside a visitor's request: 30-60 s of a frozen page on a
small machine. ``start()`` runs ``python -m fastcore.warm`` in a child process, which compiles every group of
kernels into the on-disk cache (``cache=True``) and prints each group's name when it is done; a thread of this
process then loads that group from the cache (a fraction of a second) and marks it ready. Compiling in a child
keeps numba's compiler off this process's GIL and its compiler lock while visitors are served.

``compiling(group)`` is True from ``start()`` until the group is ready: callers then use a slower path that needs
no compilation (the TMS trainer trains with autograd, the SAE trainer with its torch step; a page says the kernel
is on its way). Where ``start()`` was never called (a notebook, the tests, the CLI), ``compiling`` is always False
and kernels compile on first use as usual.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

GROUPS = ("tms", "geometry", "coactivation", "cluster", "sae")  # sae last: its trainer falls back meanwhile


def _tms() -> None:
    from fastcore.tms import TMSGrads, tms_batch

    rng = np.random.default_rng(0)
    W = rng.standard_normal((2, 2, 4)).astype(np.float32)
    b, p = np.zeros((2, 4), np.float32), np.full((2, 4), 0.5, np.float32)
    grads = TMSGrads(W, b, p, np.ones(4, np.float32), 1, 8, correlated_pairs=1, anticorrelated_pairs=1)
    grads(0)
    grads(1, tms_batch(p, 1, 1, 8))


def _sae() -> None:
    from fastcore.sae import SAEStep

    rng = np.random.default_rng(0)
    I, W, d = 2, 6, 4
    shapes = {"W_enc": (I, W, d), "b_enc": (I, W), "W_dec": (I, W, d), "b_dec": (I, d), "b_pre": (I, d)}
    for names in (("W_enc", "b_enc", "W_dec", "b_dec"), tuple(shapes)):  # SAE and transcoder
        params = {n: rng.standard_normal(shapes[n]).astype(np.float32) for n in names}
        zeros = {n: np.zeros(shapes[n], np.float32) for n in names}
        step = SAEStep(params, zeros, {n: a.copy() for n, a in zeros.items()}, "topk", [W, 3], [2, 1], [0.0, 0.0],
                       dead_steps=1, aux_k=2, aux_k_coef=0.1)  # fmt: skip
        x = rng.standard_normal((8, d)).astype(np.float32)
        step(x, x, np.ones((I, W), np.float32), 1e-3, 1)


def _geometry() -> None:
    from fastcore.geometry import min_coherence, polytopes, thomson

    polytopes(np.random.default_rng(0).standard_normal((2, 2, 5)).astype(np.float32))
    thomson(4, 3, restarts=2, max_iter=50)
    min_coherence(4, 2, restarts=2, max_iter=50)


def _coactivation() -> None:
    import scipy.sparse as sp

    from fastcore.coactivation import cooccurrence, similarity

    X = sp.csr_matrix((np.random.default_rng(0).random((20, 6)) < 0.3).astype(np.float32))
    C = cooccurrence(X)
    for kind in ("jaccard", "phi", "npmi"):
        similarity(C, 20, kind)


def _cluster() -> None:
    from fastcore.cluster import agglomerative, components_by_size, threshold_components

    S = np.random.default_rng(0).random((6, 6))
    S = (S + S.T) / 2
    np.fill_diagonal(S, 1.0)
    D = 1.0 - S
    np.fill_diagonal(D, 0.0)
    agglomerative(D, n_clusters=2)
    agglomerative(D, max_height=0.5)
    threshold_components(S, 0.5)
    components_by_size(S, 3)


COMPILE = {"tms": _tms, "sae": _sae, "geometry": _geometry, "coactivation": _coactivation, "cluster": _cluster}


class Warmup:
    """Background compilation of kernel groups, once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self._ready = {g: threading.Event() for g in GROUPS}
        self.errors: dict[str, str] = {}

    def start(self, groups: tuple[str, ...] = GROUPS) -> None:
        """Compile ``groups`` in the background (once per process; later calls return at once)."""
        with self._lock:
            todo = tuple(g for g in groups if g not in self._started)
            unknown = set(todo) - set(GROUPS)
            if unknown:
                raise ValueError(f"unknown kernel group(s) {', '.join(sorted(unknown))}: choose from {GROUPS}")
            if not todo:
                return
            self._started |= set(todo)
        threading.Thread(target=self._run, args=(todo,), name="fastcore-warmup", daemon=True).start()

    def _run(self, groups: tuple[str, ...]) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "fastcore.warm", *groups],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            for line in child.stdout:
                if line.strip() in groups:
                    self._load(line.strip())
            child.wait()
        except OSError as e:
            self.errors["child"] = str(e)
        for group in groups:  # whatever the child did not finish is compiled here
            if not self._ready[group].is_set():
                self._load(group)

    def _load(self, group: str) -> None:
        try:
            COMPILE[group]()
        except Exception as e:  # noqa: BLE001  a kernel that fails here fails again, loudly, where it is used
            self.errors[group] = f"{type(e).__name__}: {e}"
        self._ready[group].set()

    def compiling(self, group: str) -> bool:
        """True while a background compilation of ``group`` has started and not finished."""
        return group in self._started and not self._ready[group].is_set()

    def wait(self, group: str, timeout: float | None = None) -> bool:
        """Block until ``group`` is ready (True) or ``timeout`` seconds pass (False); True at once if not started."""
        return group not in self._started or self._ready[group].wait(timeout)


WARMUP = Warmup()
start, compiling, wait = WARMUP.start, WARMUP.compiling, WARMUP.wait


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this process when the one that started it is gone (a stopped server leaves no compiler behind)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    """Compile the named groups (all by default) into the cache, printing each name when it is done."""
    _exit_with_parent()
    for group in argv or GROUPS:
        COMPILE[group]()
        print(group, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
