"""Toy models of superposition and computation in superposition (torch; no streamlit).

Importing ``toys`` before torch bounds how long OpenMP threads spin while they wait (``GOMP_SPINCOUNT=20000``,
about 10-20 µs, unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set): libgomp reads it once, when torch
loads. The default spin made 2-thread torch ops crawl whenever other OpenMP work shared a 2-core machine (the CC
step at 2.6 steps/s instead of 168); waiting fully passively cost tiny steps dearly on an idle one (the intro TMS
step at 1,400 steps/s instead of 9,900).
"""

import os

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from toys.config import TMSConfig  # noqa: E402  (after the environment above)
from toys.snapshot import Snapshot
from toys.train import TMSTrainer, Trainer, is_diverged, make_tms_trainer

from toys.absval import AbsConfig, AbsTrainer  # noqa: E402  (after toys.train, which it builds on)
from toys.cc import CCConfig, CCTrainer  # noqa: E402  (after toys.train, which it builds on)
from toys.uand import UANDConfig, UANDTrainer  # noqa: E402  (after toys.train, which it builds on)

TOYS = {"tms": (TMSConfig, make_tms_trainer), "abs": (AbsConfig, AbsTrainer), "cc": (CCConfig, CCTrainer),
        "uand": (UANDConfig, UANDTrainer)}

__all__ = ["TMSConfig", "TMSTrainer", "AbsConfig", "AbsTrainer", "CCConfig", "CCTrainer", "UANDConfig", "UANDTrainer",
           "Trainer", "make_tms_trainer", "Snapshot", "is_diverged", "TOYS"]
