"""``python -m toys.decomp.cli train sae [--field value ...] [--samples N] [--out run.npz]``: train dictionaries on a
source with known features, score them on fresh samples, print one JSON line.

The line holds the config's source and arch, the steps, seconds and device, and per instance (lists, one entry per
instance, as ``python -m toys train`` reports a TMS sweep) its width, its λ or k, and the scores of
``toys.decomp.scores``: mcc, recovered, split, l0, true_l0, dead, shrinkage, nmse, absorption, absorbed_cos.
``add_arguments(parser)`` and ``run(args)`` let another CLI offer the same command.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from typing import Any

from toys.core.config import check_range
from toys.decomp.sae import SAEConfig, SAETrainer
from toys.decomp.scores import score

EVAL_SAMPLES = 20_000
EVAL_SEED_OFFSET = 1_000_003  # the scoring samples' seed is the config's seed plus this: data training never saw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field`` per ``SAEConfig`` field (default: the config's), plus ``--samples`` and ``--out``."""
    for f in dataclasses.fields(SAEConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=f"default {f.default}")
    parser.add_argument(
        "--samples", type=int, default=EVAL_SAMPLES, help=f"fresh samples to score on (default {EVAL_SAMPLES})"
    )
    parser.add_argument("--out", default=None, help="write the snapshot (.npz: arrays + config JSON) here")


def _plain(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def run(args: argparse.Namespace | dict) -> dict:
    """Train the config the arguments give and score it: the JSON line's dict. ValueError for a bad value."""
    values = dict(vars(args) if isinstance(args, argparse.Namespace) else args)
    samples, out = values.pop("samples", EVAL_SAMPLES), values.pop("out", None)
    check_range("samples", samples, 1, 10_000_000, integer=True)
    fields = {f.name for f in dataclasses.fields(SAEConfig)}
    cfg = SAEConfig.from_dict({k: v for k, v in values.items() if k in fields and v is not None})
    t0 = time.perf_counter()
    trainer = SAETrainer(cfg)
    snap = trainer.run()
    seconds = time.perf_counter() - t0
    if out:
        snap.save(out)
    rows = score(snap, acts=trainer.source.acts(samples, seed=cfg.seed + EVAL_SEED_OFFSET))["instances"]
    keys = [k for k in rows[0] if k not in ("instance", "n_true", "n_latents")]
    return {
        "toy": "sae",
        "source": cfg.source,
        "arch": cfg.arch,
        "step": snap.step,
        "device": str(trainer.device),
        "seconds": round(seconds, 3),
        "n_true": rows[0]["n_true"],
        "final_loss": [float(v) for v in snap.final_loss],
        **{k: [_plain(r[k]) for r in rows] for k in keys},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toys.decomp.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train and score, print one JSON line")
    kinds = train.add_subparsers(dest="kind", required=True)
    add_arguments(kinds.add_parser("sae", help=(SAEConfig.__doc__ or "").strip().splitlines()[0]))
    args = vars(parser.parse_args(argv))
    args.pop("command"), args.pop("kind")
    try:
        result = run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
