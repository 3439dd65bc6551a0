"""``python -m bench [NAME ...] [--device auto|cpu|cuda]``: print one JSON object per case."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

MODULES = (
    "tms",
    "geometry",
    "coactivation",
    "cc",
    "uand",
    "charts",
    "shared",
    "serve",
    "memory",
    "refusals",
    "talk",
    "sae",
    "sweep",
)
# run only when named: real servers and a browser, a peer library from requirements-bench.txt, or Ray; minutes each
OPT_IN = ("serve", "memory", "refusals", "talk", "sae", "sweep")


def _cases(device: str) -> tuple[dict, list[str]]:
    """All cases by name (also as ``module.name``), and the names run by default on ``device``."""
    found, default = {}, []
    for module_name in MODULES:
        module = importlib.import_module(f"bench.{module_name}")
        if module_name in ("tms", "cc", "uand"):  # training cases: run on the chosen device
            for name, fn in module.CASES.items():
                found[name] = found[f"{module_name}.{name}"] = lambda fn=fn: fn(device)
            default += module.cases(device)
        else:
            for name, fn in module.CASES.items():
                found[name] = found[f"{module_name}.{name}"] = fn
                if module_name not in OPT_IN:
                    default.append(name)
    return found, default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="cases to run (default: all for the device)")
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="device of the training cases (default: cuda if available)",
    )
    args = parser.parse_args(argv)
    try:
        found, default = _cases(args.device)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unknown = [name for name in args.names if name not in found]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(sorted(found))}", file=sys.stderr)
        return 2
    try:
        for name in args.names or default:
            print(json.dumps(found[name]()), flush=True)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
