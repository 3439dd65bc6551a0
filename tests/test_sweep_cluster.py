"""Joining an existing Ray cluster (marker ``ray``): ``ray start --head`` here, then ``python -m toys sweep SPEC
--address HOST:PORT`` sends the project's packages with the job (runtime_env py_modules) and gives the in-process
rows. The cluster runs with token authentication, as Ray 2.59+ recommends (and turns on by itself where a token is
already in ~/.ray/auth_token): head and driver get RAY_AUTH_MODE=token and the same RAY_AUTH_TOKEN, a fresh one per
test, so the result does not depend on what the machine's ~/.ray holds."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

pytest.importorskip("ray", reason="pip install -r requirements-sweep.txt")

from toys.sweep.run import run_sweep
from toys.sweep.spec import parse_spec
from toys.sweep.store import read_results

ROOT = Path(__file__).resolve().parents[1]
SPEC = {"toy": "phase", "config": {"n_importance": 4, "n_density": 3, "seeds": 2, "steps": 300}, "seeds": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    return shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"


@pytest.fixture
def head():
    """A local head node with token authentication -> (its address, the environment a driver needs to join)."""
    port = _free_port()
    env = os.environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    start = [_ray_cli(), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    subprocess.run([*start, "--disable-usage-stats"], check=True, capture_output=True, timeout=180, cwd="/tmp", env=env)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([_ray_cli(), "stop"], check=False, capture_output=True, timeout=180, cwd="/tmp", env=env)


def test_a_sweep_joins_a_running_cluster(head, tmp_path):
    address, env = head
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    cmd = [sys.executable, "-m", "toys", "sweep", str(spec_file), "--out", str(tmp_path / "out"), "--address", address]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    stranger = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}  # the cluster does ask for its token
    again = [*cmd[:6], str(tmp_path / "stranger"), *cmd[7:]]  # a new output folder: nothing to resume
    refused = subprocess.run(again, cwd=ROOT, env=stranger, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 2 and "could not join the Ray cluster" in refused.stderr, refused.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["trained"] == 3 and report["failed"] == []
    run_sweep(parse_spec(SPEC), tmp_path / "here", in_process=True, stream=None)
    got, _ = read_results(tmp_path / "out" / "results.parquet")
    want, _ = read_results(tmp_path / "here" / "results.parquet")
    key = ["shard", "instance"]
    assert got.sort_values(key).reset_index(drop=True).equals(want.sort_values(key).reset_index(drop=True))


def test_a_bad_address_is_a_message(tmp_path):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    port = _free_port()  # nothing listens there
    cmd = [sys.executable, "-m", "toys", "sweep", str(spec_file), "--out", str(tmp_path / "o"), "--address"]
    done = subprocess.run(
        [*cmd, f"127.0.0.1:{port}"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 2
    assert "could not join the Ray cluster" in done.stderr and "RAY_AUTH_MODE" in done.stderr
