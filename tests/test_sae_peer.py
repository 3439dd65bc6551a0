"""Our MCC (``toys.decomp.scores.mcc``) against sae-lens's ``sae_lens.synthetic.mean_correlation_coefficient`` on the
same decoders, skipped where sae-lens is not installed (it is in requirements-bench.txt, not requirements.txt); and
the bench's peer reading the same feature draws as ours."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.sae import SOURCE, peer_features
from toys.decomp.scores import mcc
from toys.decomp.sources import SyntheticConfig, SyntheticSource


def test_the_peer_reads_our_feature_draws():
    source = SyntheticSource(SOURCE)
    for seed, batch in ((0, 1024), (1, 7)):
        ours = source.sample(batch, torch.Generator().manual_seed(seed)).f
        assert torch.equal(peer_features(source, batch, torch.Generator().manual_seed(seed)), ours)


@pytest.mark.parametrize("n_latents", [1, 7, 40, 64, 150])
def test_mcc_agrees_with_sae_lens(n_latents):
    synthetic = pytest.importorskip("sae_lens.synthetic")
    truth = SyntheticSource(SyntheticConfig(d_in=24, n_true=64, seed=n_latents)).truth
    rng = np.random.default_rng(n_latents)
    decoder = rng.standard_normal((n_latents, 24)).astype(np.float32)
    decoder[: min(n_latents, 20)] += 3.0 * truth[: min(n_latents, 20)]  # some latents near true features
    if n_latents > 2:
        decoder[1] = 0.0  # a zero row
    theirs = synthetic.mean_correlation_coefficient(torch.as_tensor(decoder), torch.as_tensor(truth))
    assert abs(mcc(decoder, truth) - theirs) <= 1e-6
