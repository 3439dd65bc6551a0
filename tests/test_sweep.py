"""Sweeps without Ray: specs, shards, the in-process runner, resuming, and reading a result back (toys.sweep).
The Ray runs are in tests/test_sweep_ray.py (marker ``ray``)."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toys.cli import main
from toys.sweep import store
from toys.sweep.run import INSTALL, run_sweep
from toys.sweep.spec import load_spec, parse_spec
from toys.sweep.store import read_results
from toys.tms.phase import PhaseConfig, PhaseTrainer, cell_table, exact_applies, phase_grid

SMALL = {"n_importance": 3, "n_density": 2, "seeds": 2, "steps": 60, "eval_values": 32}


def small_spec(**over):
    return parse_spec({"toy": "phase", "config": SMALL, "grid": {"n_hidden": [1]}, "seeds": 2} | over)


@pytest.mark.parametrize(
    "data, words",
    [
        ([1, 2], "mapping"),
        ({"toy": "nope"}, "not one of"),
        ({"toy": "phase", "colour": 1}, "unknown key"),
        ({"toy": "phase", "config": {"n_hiden": 1}}, "n_hiden is not a field"),
        ({"toy": "phase", "grid": {"seed": [1, 2]}}, "seeds"),
        ({"toy": "phase", "grid": {"n_hidden": []}}, "non-empty list"),
        ({"toy": "phase", "grid": {"n_hidden": 1}}, "non-empty list"),
        ({"toy": "phase", "config": {"steps": 5}, "grid": {"steps": [1, 2]}}, "both fixed"),
        ({"toy": "phase", "seeds": 0}, "out of range"),
        ({"toy": "phase", "seeds": [1, 1]}, "repeat"),
        ({"toy": "phase", "seeds": [-1]}, "non-negative"),
        ({"toy": "phase", "seeds": True}, "count"),
        ({"toy": "phase", "config": {"steps": [1]}}, "not a number"),
        ({"toy": "phase", "grid": {"steps": list(range(1, 1001))}, "seeds": 101}, "more than"),
    ],
)
def test_bad_specs_say_why(data, words):
    with pytest.raises(ValueError, match=words):
        parse_spec(data)


def test_a_bad_value_names_its_shard():
    spec = parse_spec({"toy": "phase", "grid": {"n_hidden": [1, 5]}, "seeds": 1})
    with pytest.raises(ValueError, match=r"shard 1 \(n_hidden=5, seed=0\)"):
        spec.shards()


def test_shards_are_the_grid_times_seeds_in_order():
    spec = parse_spec(
        {"toy": "tms", "config": {"n_features": 5}, "grid": {"n_hidden": [1, 2], "lr": [0.1, 0.01]}, "seeds": [7, 9]}
    )
    shards = spec.shards()
    got = [(s.config["n_hidden"], s.config["lr"], s.seed) for s in shards]
    want = [(h, lr, seed) for h in (1, 2) for lr in (0.1, 0.01) for seed in (7, 9)]
    assert got == want and [s.index for s in shards] == list(range(8))
    assert all(s.config["n_features"] == 5 for s in shards)
    assert len({s.key for s in shards}) == 8


def test_specs_read_from_json_and_yaml(tmp_path):
    data = {"toy": "phase", "config": SMALL, "seeds": 3}
    (tmp_path / "s.json").write_text(json.dumps(data))
    assert load_spec(tmp_path / "s.json").seeds == [0, 1, 2]
    (tmp_path / "bad.json").write_text("{toy: phase")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_spec(tmp_path / "bad.json")
    yaml = pytest.importorskip("yaml")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    assert load_spec(tmp_path / "s.yaml") == load_spec(tmp_path / "s.json")


def test_yaml_without_pyyaml_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    (tmp_path / "s.yaml").write_text("toy: phase\n")
    with pytest.raises(ValueError, match="requirements-sweep.txt"):
        load_spec(tmp_path / "s.yaml")


@pytest.mark.parametrize("path", sorted(Path("docs/sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_the_documented_specs_are_valid(path):
    """The README's and docs/sweeps' specs parse and every shard's config is valid."""
    pytest.importorskip("yaml")
    spec = load_spec(path)
    assert len(spec.shards()) == spec.n_shards >= 4


def test_in_process_rows_are_the_trainers_own(tmp_path):
    """Every row of the result is its instance, as the toy's trainer gives it for the shard's config."""
    spec = small_spec()
    report = run_sweep(spec, tmp_path, in_process=True, stream=None)
    assert report["trained"] == 2 and report["failed"] == [] and report["rows"] == 2 * 3 * 2 * 2
    df, info = read_results(tmp_path / "results.parquet", toy="phase")
    assert info["spec"] == spec.to_dict() and info["finished"] == "2"
    for seed in (0, 1):
        snap = PhaseTrainer(PhaseConfig.from_dict(SMALL | {"n_hidden": 1, "seed": seed})).run()
        part = df[df["seed"] == seed].sort_values("instance")
        np.testing.assert_array_equal(part["expected_loss"].to_numpy(), snap["expected_loss"])
        np.testing.assert_array_equal(part["final_loss"].to_numpy(), snap.final_loss.ravel())
        assert (part["cfg_seed"] == seed).all() and (part["cfg_n_importance"] == 3).all()


def test_phase_cells_from_rows_match_the_batched_grid(tmp_path):
    """A sweep of one seed per shard, read back as cells, is the same grid as one model with all those seeds."""
    from ui.sweeps import phase_cells

    cfg = dict(SMALL, seeds=1)
    spec = parse_spec({"toy": "phase", "config": cfg, "seeds": 2})
    run_sweep(spec, tmp_path, in_process=True, stream=None)
    df, _ = read_results(tmp_path / "results.parquet", toy="phase")
    cells = phase_cells(df)
    # the same seeds trained apart, stacked on the seed axis of one grid
    snaps = [PhaseTrainer(PhaseConfig.from_dict(cfg | {"seed": s})).run() for s in (0, 1)]
    both = PhaseConfig.from_dict(cfg | {"seeds": 2})
    W = np.stack([s["W"] for s in snaps], axis=1).reshape(-1, *snaps[0]["W"].shape[1:])
    b = np.stack([s["b"] for s in snaps], axis=1).reshape(-1, snaps[0]["b"].shape[-1])
    loss = np.stack([s["expected_loss"] for s in snaps], axis=1).ravel()
    want = cell_table(phase_grid(both, W, b, loss), exact_applies(both))
    for k in ("row", "col", "r", "p", "phase", "loss", "best_seed", "seeds_superposed", "exact_phase", "agrees"):
        got = cells[k].to_numpy()
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want[k], rtol=1e-12, err_msg=k)
        else:
            assert list(got) == list(want[k]), k


def test_rerun_skips_finished_shards_and_redoes_a_missing_or_torn_one(tmp_path):
    spec = small_spec()
    run_sweep(spec, tmp_path, in_process=True, stream=None)
    before = pq.read_table(tmp_path / "results.parquet").to_pandas()
    again = run_sweep(spec, tmp_path, in_process=True, stream=None)
    assert (again["skipped"], again["trained"]) == (2, 0)
    store.shard_stem(tmp_path, 1).with_suffix(".parquet").unlink()
    store.shard_stem(tmp_path, 0).with_suffix(".parquet").write_bytes(b"PAR1 torn")
    third = run_sweep(spec, tmp_path, in_process=True, stream=None)
    assert (third["skipped"], third["trained"]) == (0, 2)
    after = pq.read_table(tmp_path / "results.parquet").to_pandas()
    assert after.equals(before)


def test_a_folder_of_another_sweep_is_refused(tmp_path):
    run_sweep(small_spec(), tmp_path, in_process=True, stream=None)
    with pytest.raises(ValueError, match="holds another sweep"):
        run_sweep(small_spec(seeds=3), tmp_path, in_process=True, stream=None)


def test_weights_beside_the_rows_load_as_models(tmp_path):
    from toys import load_model

    run_sweep(small_spec(), tmp_path, in_process=True, stream=None)
    snap = load_model(store.shard_stem(tmp_path, 1).with_suffix(".safetensors"))
    df, _ = read_results(tmp_path / "results.parquet")
    part = df[df["shard"] == 1].sort_values("instance")
    np.testing.assert_array_equal(part["expected_loss"].to_numpy(), snap["expected_loss"])


def _parquet(table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_foreign_and_malformed_results_are_refused(tmp_path):
    run_sweep(small_spec(), tmp_path, in_process=True, stream=None)
    good = (tmp_path / "results.parquet").read_bytes()
    with pytest.raises(ValueError, match="not a Parquet file"):
        read_results(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a sweep result"):
        read_results(_parquet(pa.table({"a": [1, 2]})))
    with pytest.raises(ValueError, match="'phase' toy"):
        read_results(good, toy="tms")
    with pytest.raises(ValueError, match="at most"):
        read_results(good, max_bytes=100)
    table = pq.read_table(io.BytesIO(good))
    meta = table.schema.metadata
    with pytest.raises(ValueError, match="lacks column"):
        read_results(_parquet(table.drop(["phase_code"]).replace_schema_metadata(meta)), toy="phase")
    with pytest.raises(ValueError, match="version"):
        read_results(_parquet(table.replace_schema_metadata(meta | {b"version": b"99"})))
    with pytest.raises(ValueError, match="no rows"):
        read_results(_parquet(table.slice(0, 0).replace_schema_metadata(meta)))
    df, info = read_results(io.BytesIO(good), toy="phase")
    assert len(df) == 24 and info["toy"] == "phase"


def test_cli_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "s.json").write_text(json.dumps({"toy": "phase", "config": SMALL, "seeds": 1}))
    assert main(["sweep", str(tmp_path / "s.json"), "--out", str(tmp_path / "out")]) == 2
    assert INSTALL in capsys.readouterr().err


def test_cli_in_process_and_bad_spec(tmp_path, capsys):
    (tmp_path / "s.json").write_text(json.dumps({"toy": "phase", "config": SMALL, "seeds": 1}))
    assert main(["sweep", str(tmp_path / "s.json"), "--out", str(tmp_path / "out"), "--in-process"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["trained"] == 1 and report["rows"] == 12
    (tmp_path / "bad.json").write_text(json.dumps({"toy": "phase", "config": {"n_hidden": 9}}))
    assert main(["sweep", str(tmp_path / "bad.json"), "--in-process"]) == 2
    assert "n_hidden" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.json")]) == 2


def test_progress_bar_draws_each_state_once_and_ends_its_line():
    import io

    from toys.sweep.run import Progress

    stream = io.StringIO()
    bar = Progress(total=3, skipped=1, stream=stream)
    bar.tick()
    bar.tick(failed=True)
    bar.close()
    text = stream.getvalue()
    frames = text.split("\r")[1:]
    assert [f.split("]")[1].split(" shards")[0].strip() for f in frames] == ["1/3", "2/3", "3/3"]
    assert text.endswith("\n") and text.count("\n") == 1
    assert "1 already done, 1 failed" in frames[-1]
