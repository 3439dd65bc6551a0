"""Sweep throughput: the same spec trained in this process (one shard after another: the reference) and on a local
Ray with 1 and with 2 workers (``toys.sweep``; pip install -r requirements-sweep.txt).

``sweep_throughput``: 8 shards of the phase toy (each a 20 × 20 grid, one seed: 400 instances, 1,500 steps). For each
runner: wall seconds, shards per second and instance-steps per second, with Ray's start-up timed apart (``ray_start_s``:
``ray.init`` of a fresh local cluster, paid once per sweep) and ``ratio`` = in-process seconds / that runner's. Every
runner trains a shard with one torch thread, so 2 workers on 2 cores can at best halve the time. ``plan_shard_s``:
one shard of the README's worked plan (docs/sweeps/phase-1000.yaml: a 1,000-cell grid, one seed, 3,000 steps)
trained in this process with one thread, the unit the plan multiplies. Without Ray:
{"skipped": why}.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from toys.sweep.run import train_shard
from toys.sweep.spec import load_spec, parse_spec

PLAN = Path(__file__).resolve().parents[1] / "docs" / "sweeps" / "phase-1000.yaml"
SPEC = {
    "toy": "phase",
    "name": "bench",
    "config": {"n_importance": 20, "n_density": 20, "seeds": 1, "steps": 1500},
    "seeds": 8,
}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sweep_throughput() -> dict:
    try:
        import ray
    except ImportError:
        return {"skipped": "ray is not installed: pip install -r requirements-sweep.txt"}
    from toys.sweep.run import _ray, run_sweep

    spec = parse_spec(SPEC)
    shards = spec.n_shards
    inst_steps = shards * 400 * SPEC["config"]["steps"]
    work = tempfile.mkdtemp()
    out = {"case": "sweep_throughput", "shards": shards, "instances_per_shard": 400, "steps": SPEC["config"]["steps"]}
    try:
        ref = _timed(lambda: run_sweep(spec, os.path.join(work, "here"), in_process=True, stream=None))
        out["in_process_s"] = round(ref, 2)
        for workers in (1, 2):
            if ray.is_initialized():
                ray.shutdown()
            start = _timed(lambda w=workers: _ray(None, w))
            secs = _timed(lambda w=workers: run_sweep(spec, os.path.join(work, f"ray{w}"), stream=None))
            out[f"ray{workers}_start_s"] = round(start, 2)
            out[f"ray{workers}_s"] = round(secs, 2)
            out[f"ray{workers}_shards_per_s"] = round(shards / secs, 3)
            out[f"ray{workers}_instance_steps_per_s"] = round(inst_steps / secs)
            out[f"ray{workers}_ratio"] = round(ref / secs, 2)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["in_process_instance_steps_per_s"] = round(inst_steps / ref)
    plan = load_spec(PLAN).shards()[0]
    out["plan_shard_s"] = round(_timed(lambda: train_shard(load_spec(PLAN).toy, plan.config, 1)), 2)
    out["cpus"] = os.cpu_count()
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return out


CASES = {"sweep_throughput": sweep_throughput}
