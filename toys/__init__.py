"""Toy models of superposition and computation in superposition (torch; no streamlit).

One package per family of toys: ``toys.tms`` (toy models of superposition, phase diagrams), ``toys.compute``
(absolute value and relatives, compressed computation, universal AND), ``toys.circuits`` (planted circuits, a
transcoder, co-activation clustering); what they share is in ``toys.core``. The names most notebooks need are
importable from ``toys`` itself.

Importing ``toys`` before torch bounds how long OpenMP threads spin while they wait (``GOMP_SPINCOUNT=20000``,
about 10-20 µs, unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set): libgomp reads it once, when torch
loads. The default spin made 2-thread torch ops crawl whenever other OpenMP work shared a 2-core machine (the CC
step at 2.6 steps/s instead of 168); waiting fully passively cost tiny steps dearly on an idle one (the intro TMS
step at 1,400 steps/s instead of 9,900).
"""

import os

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from toys.circuits.pipeline import PipelineConfig, PipelineTrainer  # noqa: E402  (after the environment above)
from toys.compute.absval import AbsConfig, AbsTrainer  # noqa: E402
from toys.compute.cc import CCConfig, CCTrainer  # noqa: E402
from toys.compute.uand import UANDConfig, UANDTrainer  # noqa: E402
from toys.core.composite import Pair, PairTrainer  # noqa: E402
from toys.core.snapshot import Snapshot  # noqa: E402
from toys.core.train import Trainer, is_diverged  # noqa: E402
from toys.tms.config import TMSConfig  # noqa: E402
from toys.tms.phase import PhaseConfig, PhaseTrainer  # noqa: E402
from toys.tms.train import TMSTrainer, make_tms_trainer  # noqa: E402

TOYS = {
    "tms": (TMSConfig, make_tms_trainer),
    "abs": (AbsConfig, AbsTrainer),
    "cc": (CCConfig, CCTrainer),
    "uand": (UANDConfig, UANDTrainer),
}

__all__ = [
    "TMSConfig", "TMSTrainer", "make_tms_trainer", "AbsConfig", "AbsTrainer", "CCConfig", "CCTrainer", "UANDConfig",
    "UANDTrainer", "PhaseConfig", "PhaseTrainer", "PipelineConfig", "PipelineTrainer", "Pair", "PairTrainer",
    "Trainer", "Snapshot", "is_diverged", "TOYS",
]
