"""Benchmarks: JSON lines with ratios against a plain reference run in the same process, on the same inputs.

``python -m bench`` runs every case, ``python -m bench NAME ...`` the named ones, ``--device`` picks where the
training cases run (default: the GPU if there is one). Cases live in ``bench.tms`` and ``bench.cc`` (training
speed against notebook loops), ``bench.geometry`` and ``bench.coactivation`` (fastcore kernels against
numpy/scipy), ``bench.charts`` (chart specs from DataFrames against inline records) and, when named,
``bench.serve`` (the real server's cold start against a warm one, in a browser).
"""

import toys  # noqa: F401  (first: sets OpenMP's wait policy before torch loads)


def run_cases(cases: dict, argv: list[str]) -> None:
    """``python -m bench.MODULE [case ...]``: print the named cases of one module (all by default) as JSON lines."""
    import json

    names = argv or list(cases)
    unknown = [name for name in names if name not in cases]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {list(cases)}")
    for name in names:
        print(json.dumps(cases[name]()), flush=True)
