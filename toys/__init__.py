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

from toys.circuits.pipeline import PipelineConfig, PipelineTrainer
from toys.compute.absval import AbsConfig, AbsTrainer
from toys.compute.cc import CCConfig, CCTrainer
from toys.compute.deep import DeepConfig, DeepTrainer
from toys.compute.uand import UANDConfig, UANDTrainer
from toys.core.composite import Pair, PairTrainer
from toys.core.saved import load_model, load_trainer, save_model
from toys.core.snapshot import Snapshot
from toys.core.train import Trainer, is_diverged
from toys.decomp.sae import SAEConfig, SAETrainer
from toys.tms.config import TMSConfig
from toys.tms.phase import PhaseConfig, PhaseTrainer
from toys.tms.train import TMSTrainer, make_tms_trainer

TOYS = {
    "tms": (TMSConfig, make_tms_trainer),
    "abs": (AbsConfig, AbsTrainer),
    "cc": (CCConfig, CCTrainer),
    "uand": (UANDConfig, UANDTrainer),
    "deep": (DeepConfig, DeepTrainer),
}

__all__ = [
    "TOYS",
    "AbsConfig",
    "AbsTrainer",
    "CCConfig",
    "CCTrainer",
    "DeepConfig",
    "DeepTrainer",
    "Pair",
    "PairTrainer",
    "PhaseConfig",
    "PhaseTrainer",
    "PipelineConfig",
    "PipelineTrainer",
    "SAEConfig",
    "SAETrainer",
    "Snapshot",
    "TMSConfig",
    "TMSTrainer",
    "Trainer",
    "UANDConfig",
    "UANDTrainer",
    "is_diverged",
    "load_model",
    "load_trainer",
    "make_tms_trainer",
    "save_model",
]
