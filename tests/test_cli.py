"""``python -m toys train tms``: one JSON line on stdout, an npz that loads without pickle, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from toys import Snapshot, TMSConfig
from toys.cli import main

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"toy", "step", "final_loss", "n_represented", "dims_per_feature"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "toys", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def check_summary_against_file(summary: dict, path: Path, steps: int, n_instances: int) -> None:
    """The printed metrics, recomputed from the saved weights by their definitions."""
    with np.load(path, allow_pickle=False) as z:
        assert {"W", "b", "loss"} <= set(z.files)
        W, b, loss = z["W"], z["b"], z["loss"]
    assert W.ndim == 3 and W.shape[0] == n_instances and b.shape == (n_instances, W.shape[2])
    assert summary["toy"] == "tms" and summary["step"] == steps
    np.testing.assert_allclose(summary["final_loss"], loss[-1], rtol=1e-6)
    norms = np.sqrt((W.astype(np.float64) ** 2).sum(axis=1))  # (I, F)
    assert summary["n_represented"] == [int((row > 0.5).sum()) for row in norms]
    m = W.shape[1]
    np.testing.assert_allclose(summary["dims_per_feature"], m / (W.astype(np.float64) ** 2).sum(axis=(1, 2)), rtol=1e-5)


def test_train_subprocess_prints_one_json_line_and_writes_npz(tmp_path):
    out = tmp_path / "X.npz"
    proc = run_cli("train", "tms", "--steps", "200", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    summary = json.loads(lines[0])
    assert KEYS <= set(summary)
    assert len(summary["final_loss"]) == TMSConfig().n_instances
    check_summary_against_file(summary, out, steps=200, n_instances=TMSConfig().n_instances)
    snap = Snapshot.load(str(out))
    assert TMSConfig.from_dict(snap.config) == TMSConfig(steps=200)


def test_train_subprocess_rejects_a_bad_value_by_name(tmp_path):
    out = tmp_path / "never.npz"
    proc = run_cli("train", "tms", "--p-min", "2", "--steps", "10", "--out", str(out))
    assert proc.returncode != 0
    assert "p_min" in proc.stderr and "2" in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


def test_main_in_process(tmp_path, capsys):
    out = tmp_path / "run.npz"
    rc = main(
        [
            "train",
            "tms",
            "--n-features",
            "6",
            "--n-hidden",
            "3",
            "--n-instances",
            "2",
            "--steps",
            "50",
            "--log-every",
            "20",
            "--p-max",
            "0.3",
            "--p-min",
            "0.3",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert KEYS <= set(summary)
    check_summary_against_file(summary, out, steps=50, n_instances=2)
    snap = Snapshot.load(str(out))
    np.testing.assert_array_equal(snap.loss_steps, [20, 40, 50])
    assert snap["W"].shape == (2, 3, 6)


@pytest.mark.parametrize(
    "argv, field",
    [
        (["train", "tms", "--p-min", "2"], "p_min"),
        (["train", "tms", "--model", "foo"], "model"),
        (["train", "tms", "--n-features", "abc"], "n_features"),
        (["train", "tms", "--optimizer", "adam", "--weight-decay", "0.1"], "weight_decay"),
    ],
)
def test_main_in_process_bad_values(argv, field, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert field in captured.err and captured.err.startswith("error:")


def test_main_rejects_unknown_flags_and_toys(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "tms", "--bogus", "1"])
    assert e.value.code != 0
    with pytest.raises(SystemExit) as e:
        main(["train", "nosuchtoy"])
    assert e.value.code != 0
    assert "nosuchtoy" in capsys.readouterr().err
