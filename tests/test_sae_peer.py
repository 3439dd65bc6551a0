"""Our MCC (``toys.decomp.scores.mcc``) against sae-lens's ``sae_lens.synthetic.mean_correlation_coefficient`` on the
same decoders; skipped where sae-lens is not installed (it is in requirements-bench.txt, not requirements.txt)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toys.decomp.scores import mcc
from toys.decomp.sources import SyntheticConfig, SyntheticSource

synthetic = pytest.importorskip("sae_lens.synthetic")


@pytest.mark.parametrize("n_latents", [1, 7, 40, 64, 150])
def test_mcc_agrees_with_sae_lens(n_latents):
    truth = SyntheticSource(SyntheticConfig(d_in=24, n_true=64, seed=n_latents)).truth
    rng = np.random.default_rng(n_latents)
    decoder = rng.standard_normal((n_latents, 24)).astype(np.float32)
    decoder[: min(n_latents, 20)] += 3.0 * truth[: min(n_latents, 20)]  # some latents near true features
    if n_latents > 2:
        decoder[1] = 0.0  # a zero row
    theirs = synthetic.mean_correlation_coefficient(torch.as_tensor(decoder), torch.as_tensor(truth))
    assert abs(mcc(decoder, truth) - theirs) <= 1e-6
