"""Reading chart data back out of a Vega-Lite spec made by ``chart.to_dict()``."""

from __future__ import annotations


def data_values(spec: dict, node: dict | None = None) -> list[dict]:
    """The rows of ``node``'s data (``spec`` itself by default): charts carry DataFrames, which to_dict() writes as
    a top-level dataset that the node names."""
    node = spec if node is None else node
    return spec["datasets"][node["data"]["name"]]
