"""Chart builders of the feature-geometry and phase-diagram pages: valid Vega-Lite, with data, on fixed axes."""

import numpy as np
import pytest

from charts.geometry import (
    STICKY,
    density_domain,
    dims_per_feature_chart,
    edge_frame,
    feature_dims_chart,
    feature_geometry_frame,
    group_frame,
    ideal_chart,
    ideal_frame,
    instance_chart,
    instance_frame,
    rotate_view,
    sweep_frame,
)
from charts.phase import boundary_frame, cell_edges, phase_chart, phase_frame, seeds_frame
from fastcore.geometry import thomson
from tests.specs import data_values
from toys.tms.geometry import feature_geometry, ideal_edges
from toys.tms.metrics import dimensions_per_feature, feature_norms, n_represented
from toys.tms.phase import PhaseConfig, boundary_density, boundary_table, cell_table, phase_grid, phase_name


def _pentagon_and_digons():
    """Instance 0: a pentagon in 2 dims (features 0-4); instance 1: two digons on orthogonal axes + 1 dropped."""
    a = 2 * np.pi * np.arange(5) / 5
    W = np.zeros((2, 2, 5))
    W[0] = np.stack([np.cos(a), np.sin(a)])
    W[1] = [[1, -1, 0, 0, 0], [0, 0, 1, -1, 0]]
    return W


def _geometry_frames():
    W = _pentagon_and_digons()
    p = np.array([0.05, 0.2])
    return W, p, feature_geometry_frame(p, feature_geometry(W))


def test_sticky_fractions_are_the_polytopes_d_over_k():
    assert [s[2] for s in STICKY] == ["dedicated", "tetrahedron", "triangle", "digon", "pentagon", "square antiprism"]
    assert [s[0] for s in STICKY] == pytest.approx([1, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8])


def test_feature_geometry_frame_names_polytopes():
    _, _, df = _geometry_frames()
    assert len(df) == 10
    first = df[df["instance"] == 0]
    assert set(first["polytope"]) == {"pentagon"} and np.allclose(first["D"], 0.4)
    second = df[df["instance"] == 1]
    assert second["polytope"].tolist() == ["digon"] * 4 + ["not represented"]
    assert np.allclose(second["D"], [0.5] * 4 + [0.0])


def test_dimension_charts_have_data_and_fixed_axes():
    W, p, df = _geometry_frames()
    dom = density_domain(p)
    assert dom == [1.0, 100.0]
    sweep = sweep_frame(W, p, dimensions_per_feature(W), n_represented(W), np.array([0.1, np.nan]))
    assert sweep["dims_per_feature"].tolist() == pytest.approx([2 / 5, 1 / 2])
    for chart, rows in ((dims_per_feature_chart(sweep, dom), 2), (feature_dims_chart(df, dom, selected=1), 10)):
        spec = chart.to_dict()
        datas = [data_values(spec, layer) for layer in spec["layer"] if "data" in layer]
        assert any(len(d) == rows for d in datas)
        assert any(len(d) == len(STICKY) for d in datas)  # the sticky-fraction lines
        xs = [
            layer["encoding"]["x"]
            for layer in spec["layer"]
            if "x" in layer.get("encoding", {}) and "scale" in layer["encoding"]["x"]
        ]
        assert all(x["scale"]["domain"] == dom and x["scale"]["type"] == "log" for x in xs)
        ys = [layer["encoding"]["y"] for layer in spec["layer"] if "scale" in layer.get("encoding", {}).get("y", {})]
        assert ys and all(y["scale"]["domain"] == [0, 1.1] for y in ys)


def test_instance_view_groups_features():
    _, _, df = _geometry_frames()
    one = instance_frame(df, 1)
    assert one["feature"].tolist() == [0, 1, 2, 3, 4] and one["group"].tolist() == [0, 0, 1, 1, -1]
    groups = group_frame(one)
    assert groups["polytope"].tolist() == ["digon", "digon"] and groups["members"].tolist() == ["0, 1", "2, 3"]
    assert groups["d/k"].tolist() == [0.5, 0.5]
    spec = instance_chart(one, "x").to_dict()
    assert len(data_values(spec, spec["layer"][0])) == 5
    assert group_frame(instance_frame(df.assign(group=-1), 0)).empty


def test_ideal_chart_draws_points_on_fixed_axes():
    points, _ = thomson(5, 3, restarts=4)
    df = ideal_frame(points, azimuth=40, elevation=-10)
    np.testing.assert_allclose(np.linalg.norm(df[["x", "y", "depth"]].to_numpy(), axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(rotate_view(points, 40, -10), axis=1), 1.0, atol=1e-9)
    spec = ideal_chart(df, edge_frame(df, ideal_edges(points)), "t").to_dict()
    assert [len(data_values(spec, layer)) for layer in spec["layer"]] == [121, 2 * 9, 5]
    assert spec["layer"][2]["encoding"]["x"]["scale"]["domain"] == [-1.15, 1.15]


def test_cell_edges_are_geometric_midpoints():
    lo, hi = cell_edges(np.array([0.01, 0.1, 1.0]))
    np.testing.assert_allclose(lo, [10**-2.5, 10**-1.5, 10**-0.5])
    np.testing.assert_allclose(hi, [10**-1.5, 10**-0.5, 10**0.5])
    lo, hi = cell_edges(np.array([0.3]))
    assert lo[0] < 0.3 < hi[0]


def _grid():
    cfg = PhaseConfig(n_importance=3, n_density=2, seeds=2)
    rng = np.random.default_rng(0)
    W = rng.normal(size=(12, 1, 2))
    return cfg, phase_grid(cfg, W, np.zeros((12, 2)), rng.random(12))


def test_phase_chart_has_every_cell_and_the_boundaries():
    cfg, grid = _grid()
    cells = phase_frame(cell_table(grid, True), grid.r, grid.p, grid.W, grid.b)
    assert len(cells) == 6 and {"exact_phase", "agrees", "W", "b"} <= set(cells)
    bounds = boundary_frame(boundary_table(cfg.r_min, cfg.r_max, cfg.p_min))
    assert set(bounds["boundary"]) == {
        "superposition | not learned",
        "superposition | dedicated",
        "not learned | dedicated",
    }
    on_curve = bounds[bounds["boundary"] != "not learned | dedicated"]
    np.testing.assert_allclose(on_curve["p"], boundary_density(on_curve["r"].to_numpy()))
    spec = phase_chart(cells, bounds, [0.05, 20.0], [0.005, 2.0], "t").to_dict()
    assert len(data_values(spec, spec["layer"][0])) == 6
    assert len(data_values(spec, spec["layer"][1])) == len(bounds)
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log", "domain": [0.005, 2.0], "nice": False}
    no_exact = phase_chart(
        phase_frame(cell_table(grid, False), grid.r, grid.p, grid.W, grid.b), None, [0.05, 20.0], [0.005, 2.0], "t"
    ).to_dict()
    assert len(no_exact["layer"]) == 1


def test_seeds_frame():
    W = np.array([[[1.0, -1.0]], [[0.0, 1.0]]])
    df = seeds_frame(W, np.zeros((2, 2)), np.array([0.1, 0.2]), phase_name(np.array([2, -1])), feature_norms(W))
    assert df["phase"].tolist() == ["superposition", "diverged"]
    assert df["W[0,2]"].tolist() == [-1.0, 1.0]


def test_phase_chart_exports_to_png():
    from ui.export import chart_png

    cfg, grid = _grid()
    chart = phase_chart(
        phase_frame(cell_table(grid, True), grid.r, grid.p, grid.W, grid.b),
        boundary_frame(boundary_table(cfg.r_min, cfg.r_max, cfg.p_min)),
        [0.05, 20.0],
        [0.005, 2.0],
        "t",
    )
    assert chart_png(chart)[:8] == b"\x89PNG\r\n\x1a\n"
