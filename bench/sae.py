"""``toys.decomp`` against its peer, sae-lens's ``sae_lens.synthetic`` (requirements-bench.txt), on the same synthetic
activations.

``sae_peer``: one synthetic source (``toys.decomp.sources.SyntheticSource``: 64 features in 32 dims, Zipfian firing,
drawn sparsely: ``sparse_draw``, the same law as the default dense draw at a third of its cost; both sides read it,
so it shortens both times alike). (1) MCC agreement: ours (``toys.decomp.scores.mcc``) and
``sae_lens.synthetic.mean_correlation_coefficient`` on the same decoders (random ones, narrower, as wide and wider than
the truth, and the ones trained below): the largest |difference| (goal ≤ 1e-6). (2) Training, ``seeds`` times each:
our TopK ``SAETrainer`` (its defaults: on the CPU the numba step of ``fastcore.sae``, compiled before the clock
starts, AuxK at 1/32) and sae-lens's ``train_toy_sae`` with a ``TopKTrainingSAE`` (its defaults: AuxK at 1, decoder
norm 0.1 at init, activations rescaled by the decoder norms) on the same data law (sae-lens's ``FeatureDictionary``
holds our true directions and its generator draws our source's feature activations, ``peer_features``: the same
draw as ours without the x we compute and sae-lens recomputes), the same width, k, batch size, learning rate and
sample budget; seed s sets our trainer's seed and sae-lens's torch seed (its initialisation) with its feature
stream's seed s + 1. Reported: each side's MCC against the truth per seed and their mean, wall time summed over
the seeds (training only, same process) and ``ratio`` = sae-lens's time / ours, and the same in process CPU time
(``*_cpu_s``, ``cpu_ratio``), steadier than wall time on a shared machine. Both run on ``threads`` torch threads
(default 1: on the shared 2-core machine two threads made either side's wall time swing up to tenfold with the other
load), restored afterwards. Without sae_lens: {"skipped": why}.
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import torch

from fastcore import warm
from toys.decomp.sae import SAEConfig, SAETrainer
from toys.decomp.scores import mcc
from toys.decomp.sources import SyntheticConfig, SyntheticSource

SOURCE = SyntheticConfig(d_in=32, n_true=64, p_max=0.1, zipf=0.5, seed=0, sparse_draw=True)
K, BATCH, STEPS, LR = 4, 1024, 3000, 1e-3


class _OurFeatures(torch.nn.Module):
    """sae-lens's activation generator interface (``gen(batch) -> (batch, n_features)``) over our source."""

    def __init__(self, source: SyntheticSource, seed: int) -> None:
        super().__init__()
        self.source = source
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, batch_size: int) -> torch.Tensor:
        return peer_features(self.source, batch_size, self.gen)


def peer_features(source: SyntheticSource, batch: int, gen: torch.Generator) -> torch.Tensor:
    """The feature activations f (batch, n_true) that ``source.sample(batch, gen)`` draws (its sparse draw, uniform
    magnitudes: the same random numbers in the same order), without its x = f @ truth, which sae-lens computes itself
    from f: the peer pays for the draw once, as we do, and not for a product it throws away."""
    rows, cols = source._firing(batch, gen)
    f = torch.zeros(batch, source.n_true)
    f[rows, cols] = torch.rand(len(rows), generator=gen)
    return f


def sae_peer(seeds: int = 3, threads: int = 1) -> dict:
    try:
        import sae_lens.synthetic  # noqa: F401
    except ImportError as e:
        return {"skipped": f"sae_lens is not importable ({e}); pip install -r requirements-bench.txt"}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _compare(seeds)
    finally:
        torch.set_num_threads(before)


def _ours(source: SyntheticSource, seed: int) -> np.ndarray:
    cfg = SAEConfig(
        d_in=SOURCE.d_in,
        n_true=SOURCE.n_true,
        p_max=SOURCE.p_max,
        zipf=SOURCE.zipf,
        source_seed=SOURCE.seed,
        arch="topk",
        k=K,
        n_latents=SOURCE.n_true,
        batch_size=BATCH,
        steps=STEPS,
        lr=LR,
        log_every=STEPS,
        seed=seed,
    )
    return SAETrainer(cfg, source).run()["W_dec"][0]


def _theirs(source: SyntheticSource, seed: int) -> np.ndarray:
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.synthetic import FeatureDictionary, train_toy_sae

    torch.manual_seed(seed)
    peer = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=SOURCE.d_in, d_sae=SOURCE.n_true, k=K, device="cpu"))
    fd = FeatureDictionary(SOURCE.n_true, SOURCE.d_in, initializer=None, seed=0)
    with torch.no_grad():
        fd.feature_vectors.copy_(torch.as_tensor(source.truth))
    gen = _OurFeatures(source, seed=seed + 1)
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
        train_toy_sae(peer, fd, gen, training_samples=STEPS * BATCH, batch_size=BATCH, lr=LR)
    return peer.W_dec.detach().cpu().numpy()


def _timed(fn, source: SyntheticSource, seeds: int) -> tuple[list[np.ndarray], float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    decoders = [fn(source, s) for s in range(seeds)]
    return decoders, time.perf_counter() - t0, time.process_time() - c0


def _compare(seeds: int) -> dict:
    import sae_lens
    from sae_lens.synthetic import mean_correlation_coefficient

    warm.COMPILE["sae"]()  # our numba step, compiled (or loaded from numba's cache) before the clock starts
    source = SyntheticSource(SOURCE)
    assert SOURCE.sparse_draw and SOURCE.magnitude == "uniform" and source.sparse  # what peer_features draws
    truth = source.truth
    ours, ours_s, ours_cpu = _timed(_ours, source, seeds)
    theirs, peer_s, peer_cpu = _timed(_theirs, source, seeds)

    rng = np.random.default_rng(0)
    decoders = [rng.standard_normal((n, SOURCE.d_in)) for n in (16, 64, 200)] + ours + theirs
    diffs = [
        abs(
            mcc(d, truth)
            - mean_correlation_coefficient(torch.as_tensor(d, dtype=torch.float32), torch.as_tensor(truth))
        )
        for d in decoders
    ]
    ours_mcc = [round(mcc(d, truth), 4) for d in ours]
    peer_mcc = [round(mcc(d, truth), 4) for d in theirs]
    return {
        "case": "sae_peer",
        "sae_lens": sae_lens.__version__,
        "mcc_max_abs_diff": float(max(diffs)),
        "mcc_agree": bool(max(diffs) <= 1e-6),
        "samples": STEPS * BATCH,
        "seeds": seeds,
        "ours_mcc": round(float(np.mean(ours_mcc)), 4),
        "sae_lens_mcc": round(float(np.mean(peer_mcc)), 4),
        "ours_mcc_by_seed": ours_mcc,
        "sae_lens_mcc_by_seed": peer_mcc,
        "ours_s": round(ours_s, 2),
        "sae_lens_s": round(peer_s, 2),
        "ratio": round(peer_s / ours_s, 2),
        "ours_cpu_s": round(ours_cpu, 2),
        "sae_lens_cpu_s": round(peer_cpu, 2),
        "cpu_ratio": round(peer_cpu / ours_cpu, 2),
        "torch_threads": torch.get_num_threads(),
    }


CASES = {"sae_peer": sae_peer}
