"""Running a sweep's shards: on Ray (local by default, or an existing cluster), or in this process.

``run_sweep(spec, out)`` skips the shards already finished in ``out``, sends the rest to Ray as tasks of one CPU each
(a shard trains with ``threads`` torch threads: one by default, so that a machine's cores go to as many shards at
once), writes each shard's files as its result arrives and, at the end, ``results.parquet``. A task whose worker dies
or raises is run again ``retries`` times (Ray's own retry) and then reported as failed; the other shards finish. The
workers send their rows and weights back to the driver, which alone writes ``out``: a cluster needs no shared disk.
``in_process=True`` trains the shards one after another here, without Ray: the reference the tests hold Ray's
results to, and a way to run a small sweep with nothing installed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toys.sweep.spec import Shard, Spec

INSTALL = "Sweeps run on Ray, which the app does not need: pip install -r requirements-sweep.txt (ray==2.60.0)"


class SweepError(RuntimeError):
    """A sweep that cannot start (Ray missing or unreachable)."""


def train_shard(toy: str, config: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """Train one shard's config to the end -> its instances' rows, weights (safetensors bytes), config JSON,
    seconds and the process id that trained it."""
    import torch

    from toys.core.saved import config_json, make_trainer, parse_config, weights_bytes
    from toys.sweep.rows import instance_rows

    torch.set_num_threads(max(1, int(threads)))
    t0 = time.perf_counter()
    trainer = make_trainer(toy, parse_config(toy, config))
    snap = trainer.run()
    rows = instance_rows(toy, trainer, snap)
    return {
        "rows": rows,
        "weights": weights_bytes(snap),
        "config": config_json(snap),
        "seconds": time.perf_counter() - t0,
        "pid": os.getpid(),
    }


class Progress:
    """A one-line progress bar on a stream (stderr by default); ``None`` stream: silent."""

    def __init__(self, total: int, skipped: int, stream=sys.stderr) -> None:
        self.total, self.skipped, self.stream = total, skipped, stream
        self.done = self.failed = 0
        self.t0 = time.perf_counter()
        self.draw()

    def draw(self, end: str = "") -> None:
        if self.stream is None:
            return
        n = self.skipped + self.done + self.failed
        width = 30
        fill = int(width * n / max(self.total, 1))
        elapsed = time.perf_counter() - self.t0
        eta = ""
        if self.done and n < self.total:
            eta = f", about {elapsed / self.done * (self.total - n):.0f} s left"
        extra = f", {self.skipped} already done" if self.skipped else ""
        extra += f", {self.failed} failed" if self.failed else ""
        line = f"\r[{'#' * fill}{'.' * (width - fill)}] {n}/{self.total} shards{extra} · {elapsed:.0f} s{eta}"
        print(line, end=end, file=self.stream, flush=True)

    def tick(self, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        else:
            self.done += 1
        self.draw()

    def close(self) -> None:
        if self.stream is not None:  # the bar is already drawn as it stands: end its line
            print(file=self.stream, flush=True)


def _ray(address: str | None, workers: int | None):
    try:
        import ray
    except ImportError:
        raise SweepError(INSTALL) from None
    if ray.is_initialized():
        return ray
    root = str(Path(__file__).resolve().parents[2])
    kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    if address:
        import fastcore
        import toys

        # a cluster's nodes need the project's packages: Ray ships these two with the job (torch & co. must be there)
        kwargs["runtime_env"] = {"py_modules": [toys, fastcore]}
        _probe(address)
        try:
            ray.init(address=address, **kwargs)
        except Exception as e:  # noqa: BLE001  ConnectionError, or Ray's own on a bad address
            raise SweepError(
                f"could not join the Ray cluster at {address!r}: {_short(e)}. Is it running (ray status)? A cluster "
                "started with `ray start` uses token authentication (Ray 2.59 and later): run the sweep with "
                "RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN set or the cluster's token in ~/.ray/auth_token"
            ) from None
    else:
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        ray.init(
            num_cpus=workers or os.cpu_count() or 1,
            include_dashboard=False,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
            **kwargs,
        )
    return ray


def run_sweep(
    spec: Spec,
    out: str | Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    in_process: bool = False,
    threads: int = 1,
    retries: int = 1,
    stream=sys.stderr,
    on_result: Callable[[Shard, dict], None] | None = None,
) -> dict[str, Any]:
    """Run ``spec``'s unfinished shards and gather the result -> a report (shards, skipped, trained, failed (shard
    and error), seconds, results path, rows, pids (shard -> the process that trained it))."""
    from toys.sweep import store

    shards = spec.shards()  # ValueError before anything starts
    out = store.prepare(out, spec)
    todo = [s for s in shards if not store.finished(out, s)]
    report: dict[str, Any] = {
        "toy": spec.toy,
        "shards": len(shards),
        "skipped": len(shards) - len(todo),
        "trained": 0,
        "failed": [],
        "pids": {},
    }
    t0 = time.perf_counter()
    bar = Progress(len(shards), report["skipped"], stream)

    def done(shard: Shard, result: dict) -> None:
        store.write_shard(out, spec, shard, result["rows"], result["weights"], result["config"])
        report["trained"] += 1
        report["pids"][shard.index] = result["pid"]
        if on_result is not None:
            on_result(shard, result)
        bar.tick()

    def failed(shard: Shard, error: str) -> None:
        report["failed"].append({"shard": shard.index, "grid": shard.grid, "seed": shard.seed, "error": error})
        bar.tick(failed=True)

    if in_process:
        for shard in todo:
            try:
                done(shard, train_shard(spec.toy, shard.config, threads))
            except Exception as e:  # noqa: BLE001  reported like a Ray task's failure; the other shards go on
                failed(shard, f"{type(e).__name__}: {e}")
    elif todo:
        ray = _ray(address, workers)
        task = ray.remote(num_cpus=threads, max_retries=retries, retry_exceptions=True)(train_shard)
        pending = {task.options(name=f"shard-{s.index}").remote(spec.toy, s.config, threads): s for s in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                shard = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001  RayTaskError (the task raised twice), WorkerCrashedError (died twice), ...
                    failed(shard, _short(e))
                    continue
                done(shard, result)
    bar.close()
    path, n_rows = store.gather(out, spec, shards)
    report |= {"seconds": round(time.perf_counter() - t0, 2), "results": str(path), "rows": n_rows}
    return report


def _probe(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT address must answer a TCP connection (Ray itself retries a dead one for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", ray://...: Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise SweepError(
            f"could not join the Ray cluster at {address!r}: nothing answers there ({e.strerror or e}). Is it "
            "running (ray status)? A cluster started with `ray start` also wants RAY_AUTH_MODE=token (Ray 2.59 "
            "and later)"
        ) from None


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    last = next((line for line in reversed(text) if line.strip()), "")
    return f"{type(e).__name__}: {last}"[:500]
