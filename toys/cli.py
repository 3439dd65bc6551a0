"""``python -m toys train NAME [--field value ...] [--out run.npz]``: train headless, print one JSON line
(``python -m toys train sae ...``: dictionaries on a source with known features, scored; ``toys.decomp.cli``).

``python -m toys search [--toy deep|uand|cc] [--quick] [--out table.json]``: train a grid of configs, print a JSON line
per trained network and a summary line (``toys.compute.search``).

``python -m toys sweep SPEC [--out DIR] [--workers N] [--address ADDR] [--in-process]``: a grid of configs × seeds on
Ray, one batched model per shard, to Parquet and safetensors; a re-run skips finished shards (``toys.sweep``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from toys import TOYS
from toys.compute.absval import abs_summary
from toys.compute.cc import cc_summary
from toys.compute.deep import deep_summary
from toys.compute.search import SEARCH_TOYS, search
from toys.compute.uand import uand_summary
from toys.core.snapshot import Snapshot
from toys.decomp import cli as decomp_cli
from toys.tms.metrics import tms_summary

SUMMARIES = {
    "tms": lambda snap: tms_summary(snap["W"]),
    "abs": abs_summary,
    "cc": cc_summary,
    "uand": uand_summary,
    "deep": deep_summary,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toys", description="Train a toy model headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a toy and print its final metrics as one JSON line")
    toys = train.add_subparsers(dest="toy", required=True)
    for name, (cfg_cls, _) in TOYS.items():
        p = toys.add_parser(name, help=(cfg_cls.__doc__ or "").strip().splitlines()[0])
        for f in dataclasses.fields(cfg_cls):
            p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=f"default {f.default}")
        p.add_argument("--out", default=None, help="write the snapshot (.npz: arrays + config JSON) here")
    # dictionaries are scored against their source's held-out samples, which only the trainer has: their own runner
    decomp_cli.add_arguments(toys.add_parser("sae", help="sparse dictionaries scored against known features"))
    grid = sub.add_parser("search", help="train a grid of configs and report where trained beats naive")
    grid.add_argument("--toy", choices=SEARCH_TOYS, default="deep")
    grid.add_argument("--quick", action="store_true", help="a small grid (seconds), for tests")
    grid.add_argument("--out", default=None, help="also write the rows and the summary here as JSON")
    sweep = sub.add_parser("sweep", help="a grid of configs x seeds on Ray, to Parquet (resumable)")
    sweep.add_argument("spec", help="the sweep spec, .json or .yaml (toy, config, grid, seeds)")
    sweep.add_argument("--out", default=None, help="the result folder (default: sweep-NAME); a re-run resumes it")
    sweep.add_argument("--workers", type=int, default=None, help="local Ray: CPUs to use (default: all)")
    sweep.add_argument("--address", default=None, help="join this Ray cluster (e.g. auto, or ray://host:10001)")
    sweep.add_argument("--threads", type=int, default=1, help="torch threads (and Ray CPUs) per shard (default 1)")
    sweep.add_argument("--in-process", action="store_true", help="no Ray: train the shards one by one here")
    return parser


def _sweep(args: dict) -> int:
    from toys.sweep.run import SweepError, run_sweep
    from toys.sweep.spec import load_spec

    try:
        spec = load_spec(args["spec"])
        if args["workers"] is not None and not 1 <= args["workers"] <= 4096:
            raise ValueError(f"--workers {args['workers']} is out of range: 1 to 4,096")
        if not 1 <= args["threads"] <= 256:
            raise ValueError(f"--threads {args['threads']} is out of range: 1 to 256")
        out = args["out"] or f"sweep-{spec.name}"
        report = run_sweep(
            spec,
            out,
            workers=args["workers"],
            address=args["address"],
            in_process=args["in_process"],
            threads=args["threads"],
        )
    except (OSError, ValueError, SweepError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report.pop("pids")
    print(json.dumps(report))
    for f in report["failed"]:
        print(f"shard {f['shard']} failed after its retry: {f['error']}", file=sys.stderr)
    return 1 if report["failed"] else 0


def summarize(snap: Snapshot, seconds: float, device: str) -> dict:
    return {
        "toy": snap.toy,
        "step": snap.step,
        "device": device,
        "seconds": round(seconds, 3),
        "steps_per_s": round(snap.step / seconds, 1) if seconds > 0 else None,
        "final_loss": [float(v) for v in snap.final_loss],
        **SUMMARIES[snap.toy](snap),
    }


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    if args["command"] == "sweep":
        return _sweep(args)
    if args["command"] == "search":
        table = search(args["toy"], quick=args["quick"])
        if args["out"]:
            with open(args["out"], "w") as f:
                json.dump(table, f, indent=1)
        return 0
    args.pop("command")
    if args["toy"] == "sae":
        args.pop("toy")
        try:
            result = decomp_cli.run(args)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(json.dumps(result))
        return 0
    toy, out = args.pop("toy"), args.pop("out")
    cfg_cls, trainer_cls = TOYS[toy]
    try:
        cfg = cfg_cls.from_dict({k: v for k, v in args.items() if v is not None})
        trainer = trainer_cls(cfg)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    snap = trainer.run()
    seconds = time.perf_counter() - t0
    if out:
        snap.save(out)
    print(json.dumps(summarize(snap, seconds, str(trainer.device))))
    return 0
