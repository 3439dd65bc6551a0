"""``toys.decomp`` against its peer, sae-lens's ``sae_lens.synthetic`` (requirements-bench.txt), on the same synthetic
activations.

``sae_peer``: one synthetic source (``toys.decomp.sources.SyntheticSource``: 64 features in 32 dims, Zipfian firing).
(1) MCC agreement: ours (``toys.decomp.scores.mcc``) and ``sae_lens.synthetic.mean_correlation_coefficient`` on the
same decoders (random ones, narrower, as wide and wider than the truth, and the two trained below): the largest
|difference| (goal ≤ 1e-6). (2) Training: our TopK ``SAETrainer`` and sae-lens's ``train_toy_sae`` with a
``TopKTrainingSAE`` (its defaults: AuxK loss, decoder norm 0.1 at init) on the same data law (sae-lens's
``FeatureDictionary`` holds our true directions and its generator draws our source's feature activations), the same
width, k, batch size, learning rate and sample budget; MCC of each against the truth, wall time of each (training
only, same process, same torch threads) and ``ratio`` = sae-lens's time / ours, and the same in process CPU time
(``*_cpu_s``, ``cpu_ratio``), steadier than wall time on a shared machine. Without sae_lens: {"skipped": why}.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from toys.decomp.sae import SAEConfig, SAETrainer
from toys.decomp.scores import mcc
from toys.decomp.sources import SyntheticConfig, SyntheticSource

SOURCE = SyntheticConfig(d_in=32, n_true=64, p_max=0.1, zipf=0.5, seed=0)
K, BATCH, STEPS, LR = 4, 1024, 3000, 1e-3


class _OurFeatures(torch.nn.Module):
    """sae-lens's activation generator interface (``gen(batch) -> (batch, n_features)``) over our source."""

    def __init__(self, source: SyntheticSource, seed: int) -> None:
        super().__init__()
        self.source = source
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.source.sample(batch_size, self.gen).f


def sae_peer() -> dict:
    try:
        from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
        from sae_lens.synthetic import FeatureDictionary, mean_correlation_coefficient, train_toy_sae
    except ImportError as e:
        return {"skipped": f"sae_lens is not importable ({e}); pip install -r requirements-bench.txt"}
    import sae_lens

    source = SyntheticSource(SOURCE)
    truth = source.truth

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
    )
    t0, c0 = time.perf_counter(), time.process_time()
    ours = SAETrainer(cfg, source).run()
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    ours_dec = ours["W_dec"][0]

    torch.manual_seed(0)
    peer = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=SOURCE.d_in, d_sae=SOURCE.n_true, k=K, device="cpu"))
    fd = FeatureDictionary(SOURCE.n_true, SOURCE.d_in, initializer=None, seed=0)
    with torch.no_grad():
        fd.feature_vectors.copy_(torch.as_tensor(truth))
    t0, c0 = time.perf_counter(), time.process_time()
    train_toy_sae(peer, fd, _OurFeatures(source, seed=1), training_samples=STEPS * BATCH, batch_size=BATCH, lr=LR)
    peer_s, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
    peer_dec = peer.W_dec.detach().cpu().numpy()

    rng = np.random.default_rng(0)
    decoders = [rng.standard_normal((n, SOURCE.d_in)) for n in (16, 64, 200)] + [ours_dec, peer_dec]
    diffs = [
        abs(
            mcc(d, truth)
            - mean_correlation_coefficient(torch.as_tensor(d, dtype=torch.float32), torch.as_tensor(truth))
        )
        for d in decoders
    ]
    return {
        "case": "sae_peer",
        "sae_lens": sae_lens.__version__,
        "mcc_max_abs_diff": float(max(diffs)),
        "mcc_agree": bool(max(diffs) <= 1e-6),
        "samples": STEPS * BATCH,
        "ours_mcc": round(mcc(ours_dec, truth), 4),
        "sae_lens_mcc": round(mcc(peer_dec, truth), 4),
        "ours_s": round(ours_s, 2),
        "sae_lens_s": round(peer_s, 2),
        "ratio": round(peer_s / ours_s, 2),
        "ours_cpu_s": round(ours_cpu, 2),
        "sae_lens_cpu_s": round(peer_cpu, 2),
        "cpu_ratio": round(peer_cpu / ours_cpu, 2),
        "torch_threads": torch.get_num_threads(),
    }


CASES = {"sae_peer": sae_peer}
