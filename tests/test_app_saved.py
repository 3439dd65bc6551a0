"""AppTest: a model saved with a page's buttons loads back into that page with identical weights, paused at its step;
hostile uploads are refused with a message and the visitor keeps their model; exports are there while playing."""

from __future__ import annotations

import io
import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from tests.apptest import run_page
from tests.test_app_clustering import SMALL
from tests.test_app_computation import SMALL as SMALL_COMPUTATION
from toys import Snapshot
from toys.core.saved import read_model, weights_bytes
from ui.live import runs

TIMEOUT = 240
SMALL_TMS = {"n_features": "5", "n_hidden": "2", "n_instances": "3"}

PAGES = [  # page, URL, slot, steps per Step, file name prefix
    ("superposition", SMALL_TMS, "tms", 100, "superposition_tms_f5_h2_i3_step100"),
    (
        "geometry",
        {"geo_n_features": "20", "geo_n_hidden": "4", "geo_n_instances": "6", "geo_batch_size": "128"},
        "geo",
        100,
        "geometry_tms_f20_h4_i6_step100",
    ),
    (
        "phase",
        {"phase_n_importance": "5", "phase_n_density": "5", "phase_seeds": "2"},
        "phase",
        100,
        "phase_phase_f2_h1_r5_p5_step100",
    ),
    ("absval", {}, "abs", 100, "absval_abs_f"),
    pytest.param(
        "computation", SMALL_COMPUTATION, "cc", 100, "computation_cc_f20_h10_i2_step100", marks=pytest.mark.slow
    ),
    pytest.param(
        "computation", SMALL_COMPUTATION, "uand", 100, "computation_uand_m6_d16_i2_step100", marks=pytest.mark.slow
    ),
]


DEFERRED: dict[str, tuple] = {}  # deferred file id -> (callable, file name), as Streamlit registered them


@pytest.fixture(autouse=True, scope="module")
def record_downloads():
    """AppTest gives each run a media file manager of its own and drops it afterwards: keep what download buttons
    registered, to click them after the run."""
    add = MediaFileManager.add_deferred

    def recording(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = add(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)
        DEFERRED[file_id] = (data_callable, file_name)
        return file_id

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MediaFileManager, "add_deferred", recording)
        yield


SLOTS = ["superposition", "geometry", "phase", "absval", "computation-cc", "computation-uand"]


def _download(at: AppTest, key: str) -> tuple[str, bytes]:
    """What a download button gives when clicked: its file name, and the bytes its callable makes then."""
    button = next(b for b in at.get("download_button") if b.key == key)
    make, name = DEFERRED[button.proto.deferred_file_id]
    data = make()
    return name, data.encode() if isinstance(data, str) else data


def _saved(at: AppTest, slot: str) -> tuple[tuple[str, bytes, str], tuple[str, bytes, str]]:
    wname, w = _download(at, f"{slot}_model_weights")
    cname, c = _download(at, f"{slot}_model_config")
    return (wname, w, "application/octet-stream"), (cname, c, "application/json")


def _upload(at: AppTest, slot: str, files: list[tuple[str, bytes, str]]) -> AppTest:
    return at.file_uploader(key=f"{slot}_upload").set_value(files).run()


def _same(a: Snapshot, b: Snapshot) -> None:
    assert (a.toy, a.config, a.step) == (b.toy, b.config, b.step)
    assert set(a.arrays) == set(b.arrays)
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    np.testing.assert_array_equal(a.loss, b.loss)


@pytest.mark.parametrize("page,query,slot,steps,prefix", PAGES, ids=SLOTS)
def test_saved_model_loads_back_into_its_page(page, query, slot, steps, prefix):
    at = run_page(page, query, TIMEOUT)
    at.button(key=f"{slot}_step").click().run()
    assert not at.exception and not at.error
    trained = at.session_state[slot]["snap"]
    assert trained.step == steps
    weights, config = _saved(at, slot)
    assert weights[0].startswith(prefix) and weights[0].endswith(f"_step{steps}.safetensors")
    assert config[0] == weights[0].removesuffix(".safetensors") + ".json"

    at.button(key=f"{slot}_reset").click().run()
    assert at.session_state[slot]["snap"].step == 0
    _upload(at, slot, [weights, config])
    assert not at.exception and not at.error
    assert any("Loaded the saved model at step" in s.value for s in at.success)
    state = at.session_state[slot]
    assert not state["playing"] and state["trainer"].step == steps
    _same(state["snap"], trained)

    at.button(key=f"{slot}_step").click().run()  # the loaded model trains on from its step
    assert not at.exception and not at.error
    assert at.session_state[slot]["trainer"].step == 2 * steps


@pytest.mark.slow
def test_clustering_pipeline_loads_back_with_its_transcoder():
    at = run_page("clustering", SMALL, TIMEOUT)
    at.button(key="clu_step").click().run()
    trained = at.session_state["clu"]["snap"]
    assert trained.step == 500 and trained.extras["stage"] == "transcoder"
    weights, config = _saved(at, "clu")
    assert weights[0] == "clustering_circuit_pipeline_t4_n24_l24_step500.safetensors"
    at.button(key="clu_reset").click().run()
    _upload(at, "clu", [weights, config])
    assert not at.exception and not at.error
    _same(at.session_state["clu"]["snap"], trained)
    assert at.session_state["clu"]["snap"].extras["stage"] == "transcoder"


def test_pair_of_variants_loads_back():
    at = run_page("superposition", {**SMALL_TMS, "compare_activation": "gelu"}, TIMEOUT)
    assert not at.exception
    at.button(key="tms_step").click().run()
    trained = at.session_state["tms"]["snap"]
    assert trained.extras.get("pair")
    weights, config = _saved(at, "tms")
    assert weights[0] == "superposition_tms_f5_h2_i3_pair_step100.safetensors"
    at.button(key="tms_reset").click().run()
    _upload(at, "tms", [weights, config])
    assert not at.exception and not at.error
    _same(at.session_state["tms"]["snap"], trained)


@pytest.fixture(scope="module")
def trained_page():
    """The Superposition page after one Step, and the files its buttons give."""
    at = run_page("superposition", SMALL_TMS, TIMEOUT)
    at.button(key="tms_step").click().run()
    weights, config = _saved(at, "tms")
    return at, weights, config


def _tampered(snap: Snapshot, **arrays: np.ndarray) -> bytes:
    return weights_bytes(
        Snapshot(snap.toy, snap.config, snap.step, {**snap.arrays, **arrays}, snap.loss, snap.loss_steps)
    )


def _hostile(weights: bytes, config: bytes) -> dict[str, tuple[list, str]]:
    snap = Snapshot(**{k: v for k, v in _read(weights, config).items()})
    W = snap["W"].copy()
    W[0, 0, 0] = np.nan
    npz = io.BytesIO()
    np.savez(npz, **snap.arrays)
    geo_config = config.replace(b'"page": "tms"', b'"page": "geo"')
    assert geo_config != config
    st, js = "application/octet-stream", "application/json"
    return {
        "truncated": ([("m.safetensors", weights[: len(weights) // 2], st), ("m.json", config, js)], "truncated"),
        "pickle": ([("m.safetensors", pickle.dumps(snap.arrays), st), ("m.json", config, js)], "not a safetensors"),
        "npz": ([("m.safetensors", npz.getvalue(), st), ("m.json", config, js)], "not a safetensors"),
        "wrong shape": (
            [("m.safetensors", _tampered(snap, W=snap["W"][:, :1]), st), ("m.json", config, js)],
            "array 'W' is float32",
        ),
        "nan": ([("m.safetensors", _tampered(snap, W=W), st), ("m.json", config, js)], "NaN or infinite"),
        "200 MB": ([("m.safetensors", weights + bytes(200 * 2**20), st), ("m.json", config, js)], "200.0 MB"),
        "other page": ([("m.safetensors", weights, st), ("m.json", geo_config, js)], "saved from the geometry page"),
        "two configs": ([("m.json", config, js), ("n.json", config, js)], "one .safetensors file and one .json"),
    }


def _read(weights: bytes, config: bytes) -> dict:
    snap = read_model(weights, config).snapshot
    return {f: getattr(snap, f) for f in ("toy", "config", "step", "arrays", "loss", "loss_steps")}


def test_hostile_uploads_are_refused_and_the_model_kept(trained_page):
    at, (_, weights, _), (_, config, _) = trained_page
    kept = at.session_state["tms"]["snap"]
    viewer = at.session_state["tms"]["trainer"]
    for name, (files, match) in _hostile(weights, config).items():
        _upload(at, "tms", files)
        assert not at.exception, name
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "This model was not loaded" in errors[0] and match in errors[0], (name, errors)
        assert at.session_state["tms"]["trainer"] is viewer, name
        _same(at.session_state["tms"]["snap"], kept)


def test_a_model_of_another_toy_is_refused(trained_page):
    at, _, _ = trained_page
    absval = run_page("absval", {}, TIMEOUT)
    w, c = _saved(absval, "abs")
    unpaged = c[1].replace(b'"page": "abs"', b'"page": null')  # as a notebook saves it: no page
    _upload(at, "tms", [w, (c[0], unpaged, c[2])])
    assert any("it is a 'abs' model" in e.value for e in at.error)
    assert at.session_state["tms"]["snap"].toy == "tms"


def test_a_loaded_model_is_not_shared_and_controls_take_over_when_changed(trained_page):
    _, weights, config = trained_page
    fresh = run_page("superposition", SMALL_TMS, TIMEOUT)
    fresh.button(key="tms_reset").click().run()
    _upload(fresh, "tms", [weights, config])
    loaded = fresh.session_state["tms"]["trainer"]
    assert loaded.step == 100
    assert runs().get("tms", loaded.cfg) is not loaded.run  # another visitor of this config gets the shared run
    other = run_page("superposition", SMALL_TMS, TIMEOUT)
    assert other.session_state["tms"]["trainer"].run is not loaded.run
    fresh.run()
    assert fresh.session_state["tms"]["trainer"] is loaded  # reruns keep it while the controls stay
    fresh.slider(key="n_features").set_value(6).run()
    assert fresh.session_state["tms"]["trainer"].cfg.n_features == 6
    assert fresh.session_state["tms"]["trainer"].step == 0


def test_exports_are_there_while_playing():
    at = run_page("superposition", SMALL_TMS, TIMEOUT)
    at.button(key="tms_play").click().run()
    assert at.session_state["tms"]["playing"]
    step = at.session_state["tms"]["snap"].step
    keys = {b.key for b in at.get("download_button")}
    assert {"tms_model_weights", "tms_model_config", "tms_norms_png", "tms_loss_csv", "tms_snap_npz"} <= keys
    name, data = _download(at, "tms_model_weights")
    assert name == f"superposition_tms_f5_h2_i3_step{step}.safetensors"
    name, _ = _download(at, "tms_norms_csv")
    assert name == f"superposition_tms_norms_f5_h2_i3_step{step}.csv"
    _, cfg = _download(at, "tms_model_config")
    assert _read(data, cfg)["step"] == step
    at.button(key="tms_pause").click().run()


def test_uploads_are_capped_at_50_mb(trained_page):
    at, _, _ = trained_page
    uploader = at.file_uploader(key="tms_upload")
    assert uploader.proto.max_upload_size_mb == 50 and uploader.proto.multiple_files
    assert sorted(uploader.proto.type) == [".json", ".safetensors"]
    config = tomllib.loads((Path(__file__).parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 50
