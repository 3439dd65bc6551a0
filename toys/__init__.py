"""Toy models of superposition and computation in superposition (torch; no streamlit).

Importing ``toys`` before torch makes OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless set):
libgomp reads it once, when torch loads. With the default spinning waits, any other load on a 2-core machine
(a second visitor, a test run) stalled torch's 2-thread ops: the CC step ran at 2.6 steps/s instead of 168.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
