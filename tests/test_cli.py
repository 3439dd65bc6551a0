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


def test_train_uand_with_bce_prints_gates_naive_handmade_and_error_rates(capsys):
    """``python -m toys train uand … --loss bce``: one JSON line with gates computed against d for the trained,
    hand-made, naive and linear circuits and their mean error rates; the trained network's outputs are logits."""
    argv = ["train", "uand", "--n-inputs", "6", "--d-min", "4", "--d-max", "16", "--n-instances", "2"]
    argv += ["--steps", "300", "--batch-size", "64", "--eval-cases", "4", "--device", "cpu", "--loss", "bce"]
    assert main(argv) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["toy"] == "uand" and line["loss"] == "bce" and line["d"] == [4, 16] and line["n_gates"] == 15
    for key in ("trained", "handmade", "naive"):
        assert len(line[f"{key}_gates"]) == len(line[f"{key}_error"]) == 2
        assert all(0.0 <= e <= 1.0 for e in line[f"{key}_error"])
    assert line["naive_gates"] == [4, 15] and line["naive_error"][1] == 0.0  # d ≥ G: every gate exactly
    assert line["linear_gates"] == 0 and line["beats_naive"] == [False, False]  # naive can't be beaten at d ≥ G
    assert line["trained_gates"][1] >= 10  # 16 neurons for 15 gates: BCE learns most of them in 300 steps


@pytest.mark.parametrize(
    "argv, field",
    [
        (["train", "uand", "--loss", "huber"], "loss"),
        (["train", "cc", "--loss", "bce"], "loss"),
        (["train", "cc", "--labels", "binary"], "labels"),
    ],
)
def test_unknown_losses_and_labels_are_refused_by_name(argv, field, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and f"{field}=" in err


def test_train_cc_with_lp_loss_and_discrete_labels(capsys):
    argv = ["train", "cc", "--n-features", "12", "--d-embed", "40", "--d-mlp", "5", "--p", "0.1", "--batch-size", "64"]
    argv += ["--steps", "50", "--log-every", "10", "--eval-samples", "2000", "--device", "cpu"]
    assert main(argv + ["--loss", "lp", "--loss-p", "4", "--labels", "discrete"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["toy"] == "cc" and np.isfinite(line["final_loss"]).all()
    assert line["naive_L_over_p"] == pytest.approx((1 - 5 / 12) / 2, abs=1e-5)  # ±1 values: E[ReLU(v)²] = 1/2


def test_sae_trains_through_the_toys_cli(capsys):
    """``python -m toys train sae`` runs the dictionaries' own runner (``toys.decomp.cli``): one JSON line, a list
    per instance; a bad value exits with 2 naming the field."""
    from toys.cli import main

    argv = ["train", "sae", "--arch", "topk", "--ks", "1,2", "--n-latents", "16", "--steps", "40", "--samples", "500"]
    assert main(argv + ["--d-in", "8", "--n-true", "12", "--batch-size", "128"]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["toy"] == "sae" and out["k"] == [1, 2] and len(out["mcc"]) == 2
    assert main(["train", "sae", "--arch", "gated"]) == 2
    assert "arch" in capsys.readouterr().err
