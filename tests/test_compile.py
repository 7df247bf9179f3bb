"""torch.compile paths (``fit --compile``, ``generate --compile``) give what the eager code gives."""

import numpy as np
import pytest
import torch
from helpers import tiny
from torch import nn

from nwb_ldns import artifacts
from nwb_ldns.dataset import load_dataset
from nwb_ldns.fit import fit
from nwb_ldns.generate import generate
from nwb_ldns.models.blocks import AdaLNZeroBlock, S4Block, compiled_blocks

torch.set_num_threads(1)
TINY = tiny(ae=2, diffusion=2, history=2)


class _Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = S4Block(channels=8, state_size=4, bidirectional=True)
        self.b = AdaLNZeroBlock(channels=8, state_size=4, cond_dim=6)
        with torch.no_grad():  # adaLN-Zero starts as the identity: give it work to do
            self.b.modulation[1].weight.normal_(0, 0.3)

    def forward(self, x, cond):
        return self.b(self.a(x), cond)


@pytest.mark.parametrize("length", [32, 64])  # the Toeplitz and the FFT convolution
def test_compiled_blocks_give_the_eager_values_and_gradients(length):
    torch.manual_seed(0)
    net = _Pair()
    x, cond = torch.randn(3, 8, length), torch.randn(3, 6)  # (B, C, L), (B, cond)

    def run():
        net.zero_grad()
        y = net(x, cond)  # (B, C, L)
        (y**2).mean().backward()
        return y.detach(), [p.grad.clone() for p in net.parameters()]

    y0, g0 = run()
    with compiled_blocks(net):
        assert net.a._compiled_call_impl is not None and net.b._compiled_call_impl is not None
        y1, g1 = run()
    assert net.a._compiled_call_impl is None and net.b._compiled_call_impl is None  # eager again
    torch.testing.assert_close(y1, y0, rtol=1e-4, atol=1e-5)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The same tiny fit twice, eagerly and compiled (64 bins: the FFT path)."""
    data = load_dataset("sim:lorenz?n_trials=48&n_neurons=10&n_bins=64")
    root = tmp_path_factory.mktemp("compile")
    stages = ("autoencoder", "diffusion")
    fit(data, root / "eager", preset="quick", overrides=TINY, stages=stages, progress=False, device="cpu")
    fit(
        data,
        root / "compiled",
        preset="quick",
        overrides=TINY,
        stages=stages,
        progress=False,
        device="cpu",
        compile=True,
    )
    return root / "eager", root / "compiled"


def test_compiled_training_trains_like_eager_training(fitted):
    eager, compiled = (artifacts.load_model(d) for d in fitted)
    for a, b in ((eager.autoencoder, compiled.autoencoder), (eager.denoiser, compiled.denoiser)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(q, p, rtol=1e-3, atol=1e-4, msg=name)
    h0 = eager.info["stages"]["autoencoder"]["history"]["train_loss"]
    h1 = compiled.info["stages"]["autoencoder"]["history"]["train_loss"]
    np.testing.assert_allclose(h1, h0, rtol=1e-4)


def test_compiled_sampling_draws_what_eager_sampling_draws(fitted):
    model = artifacts.load_model(fitted[0])
    eager = generate(model, n_trials=3, seed=7, steps=5)
    model.compile()
    assert model.compiled_denoiser is not None
    compiled = generate(model, n_trials=3, seed=7, steps=5)
    np.testing.assert_allclose(compiled.latents, eager.latents, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(compiled.rates, eager.rates, rtol=1e-4, atol=1e-6)
