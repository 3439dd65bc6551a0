"""Sweeps on a local Ray with 2 workers (marker ``ray``; pip install -r requirements-sweep.txt): the same rows as
in-process, a killed worker's shard retried, a shard killed twice reported while the rest finish, and the CLI
resuming after its driver is killed."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray", reason="pip install -r requirements-sweep.txt")

from toys.sweep import store
from toys.sweep.run import _ray, run_sweep
from toys.sweep.spec import parse_spec
from toys.sweep.store import read_results

ROOT = Path(__file__).resolve().parents[1]
# a shard long enough (seconds) to be killed while it trains
SLOW = {"toy": "phase", "config": {"n_importance": 8, "n_density": 8, "seeds": 4, "steps": 4000}, "seeds": 3}
QUICK = {"toy": "phase", "config": {"n_importance": 4, "n_density": 3, "seeds": 2, "steps": 300}, "seeds": 4}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    _ray(None, 2)
    yield
    ray.shutdown()


def rows(path):
    df, _ = read_results(path)
    return df.sort_values(["shard", "instance"]).reset_index(drop=True)


def task_pids(name: str) -> list[int]:
    """Processes whose title Ray set to ``ray::NAME`` (the worker running that task now)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if cmd == f"ray::{name}".encode():
                out.append(int(d.name))
    return out


def kill_when_running(name: str, times: int, killed: list[int], timeout: float = 120.0) -> None:
    """SIGKILL the worker running task ``name`` as soon as it runs, ``times`` times (each new attempt)."""
    t0 = time.monotonic()
    while len(killed) < times and time.monotonic() - t0 < timeout:
        for pid in task_pids(name):
            if pid not in killed:
                time.sleep(0.5)  # let it start training
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.05)


def test_two_workers_give_the_in_process_rows(tmp_path):
    spec = parse_spec(QUICK)
    here = run_sweep(spec, tmp_path / "here", in_process=True, stream=None)
    there = run_sweep(spec, tmp_path / "ray", workers=2, stream=None)
    assert here["failed"] == there["failed"] == [] and there["trained"] == 4
    assert len(set(there["pids"].values()) - {os.getpid()}) == 2  # two Ray workers, not this process
    assert rows(tmp_path / "here" / "results.parquet").equals(rows(tmp_path / "ray" / "results.parquet"))
    again = run_sweep(spec, tmp_path / "ray", workers=2, stream=None)
    assert (again["skipped"], again["trained"]) == (4, 0)


def test_a_killed_workers_shard_is_retried(tmp_path):
    spec = parse_spec(SLOW)
    killed: list[int] = []
    watcher = threading.Thread(target=kill_when_running, args=("shard-1", 1, killed))
    watcher.start()
    report = run_sweep(spec, tmp_path / "ray", workers=2, stream=None)
    watcher.join()
    assert len(killed) == 1
    assert report["failed"] == [] and report["trained"] == 3
    assert report["pids"][1] not in killed  # a fresh worker finished it
    want = run_sweep(parse_spec(SLOW | {"seeds": [1]}), tmp_path / "ref", in_process=True, stream=None)
    assert want["trained"] == 1
    got = rows(tmp_path / "ray" / "results.parquet")
    ref = rows(tmp_path / "ref" / "results.parquet")
    cols = [c for c in ref.columns if c != "shard"]
    assert got[got["seed"] == 1][cols].reset_index(drop=True).equals(ref[cols])


def test_a_shard_killed_twice_is_reported_and_the_rest_finish(tmp_path):
    spec = parse_spec(SLOW)
    killed: list[int] = []
    watcher = threading.Thread(target=kill_when_running, args=("shard-0", 2, killed))
    watcher.start()
    report = run_sweep(spec, tmp_path, workers=2, stream=None)
    watcher.join()
    assert len(killed) == 2
    assert [f["shard"] for f in report["failed"]] == [0] and report["trained"] == 2
    assert sorted(rows(tmp_path / "results.parquet")["shard"].unique()) == [1, 2]
    again = run_sweep(spec, tmp_path, workers=2, stream=None)  # the re-run trains only the failed shard
    assert (again["skipped"], again["trained"], again["failed"]) == (2, 1, [])
    assert sorted(rows(tmp_path / "results.parquet")["shard"].unique()) == [0, 1, 2]


def test_the_cli_resumes_after_its_driver_is_killed(tmp_path):
    """The README's flow: `python -m toys sweep SPEC --out DIR`, interrupted, run again, finishes the rest."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SLOW | {"seeds": 4}))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "toys", "sweep", str(spec_file), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        t0 = time.monotonic()
        while not list((out / "shards").glob("*.parquet")) and time.monotonic() - t0 < 180:
            time.sleep(0.1)
            assert proc.poll() is None, proc.communicate()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait()
    first = len(list((out / "shards").glob("*.parquet")))
    assert 1 <= first < 4
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["skipped"] >= first and report["skipped"] + report["trained"] == 4 and report["rows"] == 4 * 256
    assert sorted(rows(out / "results.parquet")["seed"].unique()) == [0, 1, 2, 3]
    assert not store.shard_stem(out, 9).with_suffix(".parquet").exists()
