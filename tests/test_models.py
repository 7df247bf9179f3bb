"""Networks against naive references: S4D vs an explicit recurrence, Toeplitz vs FFT, DDIM/DDPM
vs closed form, the spike-history GLM vs a loop, masking vs unpadded inputs."""

import math

import numpy as np
import pytest
import torch

from nwb_ldns.config import AutoencoderConfig, DenoiserConfig, DiffusionConfig
from nwb_ldns.models import s4
from nwb_ldns.models.autoencoder import Autoencoder
from nwb_ldns.models.blocks import masked_instance_norm
from nwb_ldns.models.denoiser import Denoiser
from nwb_ldns.models.diffusion import GaussianDiffusion, make_betas
from nwb_ldns.models.losses import poisson_nll
from nwb_ldns.models.observation import OBSERVATION_MODELS, PoissonObservation, SpikeHistoryGLM

torch.set_num_threads(1)


def _layer(bidirectional, seed=0, channels=3, state=6):
    torch.manual_seed(seed)
    layer = s4.S4D(channels=channels, state_size=state, bidirectional=bidirectional).double()
    with torch.no_grad():  # spread the steps so that the kernels are far from trivial
        layer.log_dt.uniform_(math.log(0.01), math.log(0.3))
    return layer


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("length", [1, 7, s4.FFT_MIN_LENGTH - 1, s4.FFT_MIN_LENGTH, 150])
def test_s4d_matches_naive_recurrence(bidirectional, length):
    layer = _layer(bidirectional)
    u = torch.randn(2, 3, length, dtype=torch.double)
    np.testing.assert_allclose(layer(u).detach(), s4.naive_recurrence(layer, u).detach(), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_s4d_gradients_match_recurrence(bidirectional):
    for length in (12, s4.FFT_MIN_LENGTH + 4):  # Toeplitz and FFT paths
        layer = _layer(bidirectional, seed=1)
        u = torch.randn(2, 3, length, dtype=torch.double, requires_grad=True)
        w = torch.randn(2, 3, length, dtype=torch.double)
        (layer(u) * w).sum().backward()
        fast = {n: p.grad.clone() for n, p in layer.named_parameters()}
        gu = u.grad.clone()
        layer.zero_grad()
        u.grad = None
        (s4.naive_recurrence(layer, u) * w).sum().backward()
        for n, p in layer.named_parameters():
            np.testing.assert_allclose(fast[n], p.grad, rtol=1e-3, atol=1e-4, err_msg=f"{n} at L={length}")
        np.testing.assert_allclose(gu, u.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_fft_equals_explicit_toeplitz(bidirectional):
    layer = _layer(bidirectional, seed=2)
    L = 200
    u = torch.randn(2, 3, L, dtype=torch.double)
    k = layer.kernel(L).double()
    T = layer._toeplitz(k, L)  # explicit (H, L, L) matrix
    explicit = torch.einsum("hts,bhs->bht", T, u) + layer.d[:, None] * u
    np.testing.assert_allclose(layer(u).detach(), explicit.detach(), atol=1e-5)


def test_causal_layer_ignores_the_future():
    layer = _layer(False)
    u = torch.randn(1, 3, 120, dtype=torch.double)
    v = u.clone()
    v[..., 60:] = torch.randn(1, 3, 60, dtype=torch.double)
    np.testing.assert_allclose(
        layer(u)[..., :60].detach(), layer(v)[..., :60].detach(), atol=2e-6
    )  # fp32 FFT rounding only


def test_s4d_inv_init_and_bad_init():
    s4.S4D(channels=2, state_size=4, init="inv")
    with pytest.raises(ValueError):
        s4.S4D(channels=2, state_size=4, init="nope")


def test_cached_kernels_give_the_same_output():
    torch.manual_seed(0)
    den = Denoiser(config=DenoiserConfig(latent_dim=3, hidden=8, n_blocks=2, state_size=4, embed_dim=8))
    for p in den.parameters():  # adaLN-Zero starts at the identity: perturb it to exercise every block
        torch.nn.init.normal_(p, std=0.1) if p.ndim > 1 else None
    x, t = torch.randn(2, 3, 100), torch.tensor([5, 600])
    ref = den(x, t)
    with s4.cached_kernels(den):
        a = den(x, t)
        b = den(x, t)
        assert all(len(m._cache) == 1 for m in den.modules() if isinstance(m, s4.S4D))
    np.testing.assert_allclose(a, ref.detach(), atol=1e-6)
    np.testing.assert_allclose(b, ref.detach(), atol=1e-6)
    assert all(m._cache is None for m in den.modules() if isinstance(m, s4.S4D))


def test_parameter_groups_give_ssm_its_own_lr_and_no_decay():
    ae = Autoencoder(config=AutoencoderConfig(n_neurons=4, hidden=8, latent_dim=2, n_blocks=1, state_size=4))
    groups = s4.parameter_groups(ae, lr=1e-3, weight_decay=0.1, ssm_lr=5e-4)
    ssm = [g for g in groups if g["lr"] == 5e-4]
    assert len(ssm) == 1 and ssm[0]["weight_decay"] == 0.0
    ssm_ids = {id(p) for p in ssm[0]["params"]}
    layer = ae.blocks[0].s4
    assert ssm_ids == {id(layer.log_dt), id(layer.log_a), id(layer.a_imag)}
    n_all = sum(len(g["params"]) for g in groups)
    assert n_all == len(list(ae.parameters()))


def test_masked_norm_equals_norm_of_the_valid_part():
    x = torch.randn(2, 4, 30)
    mask = torch.zeros(2, 1, 30)
    mask[:, :, :17] = 1
    ref = masked_instance_norm(x[..., :17], None)
    np.testing.assert_allclose(masked_instance_norm(x, mask)[..., :17], ref, atol=1e-5)


def test_padding_does_not_change_valid_outputs():
    """Variable length: a padded trial gives the same latents/denoiser output as the unpadded one."""
    torch.manual_seed(0)
    ae = Autoencoder(
        config=AutoencoderConfig(n_neurons=5, hidden=8, latent_dim=3, n_blocks=2, state_size=4, bidirectional=False)
    )
    counts = torch.poisson(torch.full((1, 5, 40), 0.5))
    padded = torch.cat([counts, torch.poisson(torch.full((1, 5, 30), 3.0))], -1)  # junk after the end
    mask = torch.zeros(1, 1, 70)
    mask[..., :40] = 1
    np.testing.assert_allclose(ae.encode(padded, mask)[..., :40].detach(), ae.encode(counts).detach(), atol=1e-5)

    den = Denoiser(config=DenoiserConfig(latent_dim=3, hidden=8, n_blocks=2, state_size=4, embed_dim=8))
    for p in den.parameters():
        torch.nn.init.normal_(p, std=0.1) if p.ndim > 1 else None
    x = torch.randn(1, 3, 40)
    xp = torch.cat([x, torch.randn(1, 3, 30)], -1)
    t = torch.tensor([300])
    full = den(x, t, mask=torch.ones(1, 1, 40))
    np.testing.assert_allclose(den(xp, t, mask=mask)[..., :40].detach(), full.detach(), atol=1e-5)
    np.testing.assert_allclose(den(x, t).detach(), full.detach(), atol=1e-5)  # mask None == all ones


def test_autoencoder_loss_counts_only_dropped_entries():
    torch.manual_seed(0)
    cfg = AutoencoderConfig(
        n_neurons=6, hidden=8, latent_dim=2, n_blocks=1, state_size=4, dropout=0.3, beta=0.0, td_beta=0.0
    )
    ae = Autoencoder(config=cfg)
    counts = torch.poisson(torch.full((3, 6, 20), 1.0))
    g = torch.Generator().manual_seed(5)
    loss = ae.loss(counts, rng=g)
    g = torch.Generator().manual_seed(5)
    keep = (torch.rand(counts.shape, generator=g) > cfg.dropout).float()
    rates, _ = ae(counts * keep / (1 - cfg.dropout))
    # the NLL of each trial over its own dropped entries, then the mean over trials
    expected = [(poisson_nll(rates[i], counts[i]) * (1 - keep[i])).sum() / (1 - keep[i]).sum() for i in range(3)]
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)


def test_rate_calibration_matches_each_units_mean_count_as_a_bisection_does():
    """Each active unit's mean rate over the valid bins of whole trials is moved onto its mean count by one
    offset inside the softplus, the offset a per-unit bisection finds; a unit that never fired keeps its bias,
    and padded bins count for nothing."""
    torch.manual_seed(0)
    cfg = AutoencoderConfig(n_neurons=5, hidden=8, latent_dim=2, n_blocks=1, state_size=4, dropout=0.5)
    ae = Autoencoder(config=cfg)
    counts = torch.poisson(torch.linspace(0.05, 3.0, 5)[None, :, None].expand(7, 5, 30).contiguous())  # (7, 5, 30)
    counts[:, 4] = 0.0  # a silent unit
    lengths = torch.tensor([30, 30, 12, 25, 30, 7, 19])
    mask = (torch.arange(30)[None] < lengths[:, None]).float()[:, None]  # (7, 1, 30)
    counts = counts * mask + 50.0 * (1 - mask)  # padding holds garbage the calibration must not see
    with torch.no_grad():
        act = torch.cat([ae._activation(ae.encode(counts[i : i + 3], mask[i : i + 3])) for i in range(0, 7, 3)])
    bias = ae.dec2.bias.detach().clone()
    cal = ae.calibrate_rates(counts, mask, batch_size=3)

    def mean_rate(a, d):  # (N,) mean rate over valid bins with offsets d
        return (torch.nn.functional.softplus(a.double() + d[None, :, None]) * mask).sum((0, 2)) / mask.sum()

    target = (counts * mask).sum((0, 2)).double() / mask.sum()
    lo, hi = torch.full((5,), -20.0, dtype=torch.float64), torch.full((5,), 20.0, dtype=torch.float64)
    for _ in range(200):  # naive reference: bisection per unit
        mid = (lo + hi) / 2
        above = mean_rate(act, mid) > target
        hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
    offset = (ae.dec2.bias.detach() - bias).double()
    torch.testing.assert_close(offset[:4], ((lo + hi) / 2)[:4], atol=1e-4, rtol=0)
    assert offset[4] == 0.0
    with torch.no_grad():
        rates = torch.cat([ae(counts[i : i + 3], mask[i : i + 3])[0] for i in range(0, 7, 3)])  # (7, 5, 30)
    got = (rates.double() * mask).sum((0, 2)) / mask.sum()
    torch.testing.assert_close(got[:4], target[:4], rtol=1e-4, atol=0)
    before = mean_rate(act, torch.zeros(5, dtype=torch.float64))[:4] / target[:4]
    assert cal["rate_ratio_before_median"] == pytest.approx(float(np.median(before.numpy())), rel=1e-6)
    assert cal["offset_max_abs"] == pytest.approx(float(offset.abs().max()), rel=1e-5)


def test_poisson_nll_is_the_log_pmf():
    from scipy.stats import poisson

    r, k = torch.tensor([0.3, 2.0, 5.0]), torch.tensor([0.0, 3.0, 1.0])
    np.testing.assert_allclose(poisson_nll(r, k), -poisson.logpmf(k.numpy(), r.numpy()), rtol=1e-5)


# ---- diffusion -------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedules(schedule):
    betas = make_betas(DiffusionConfig(schedule=schedule))
    assert betas.shape == (1000,) and (betas > 0).all() and (betas < 1).all()
    if schedule == "linear":
        assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_split_inverts_the_target(prediction):
    d = GaussianDiffusion(DiffusionConfig(prediction=prediction))
    x0, eps = torch.randn(4, 3, 10), torch.randn(4, 3, 10)
    t = torch.tensor([0, 10, 500, 999])
    xt = d.q_sample(x0, t, eps)
    x0h, epsh = d.split(d.target(x0, eps, t), xt, t)
    np.testing.assert_allclose(x0h, x0, atol=2e-3)
    np.testing.assert_allclose(epsh, eps, atol=2e-4)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_samplers_reach_x0_with_an_oracle_denoiser(prediction):
    """With a denoiser that knows x0 exactly, DDIM and DPM-Solver++ (any step count) and DDPM end at x0."""
    d = GaussianDiffusion(DiffusionConfig(prediction=prediction))
    x0 = torch.randn(2, 3, 8)

    def oracle(x, t):
        a = d._abar(t, x)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return d.target(x0, eps, t)

    xT = torch.randn(2, 3, 8)
    for steps in (1, 10, 50):
        np.testing.assert_allclose(d.ddim_sample(oracle, xT, steps=steps), x0, atol=1e-3)
        g = torch.Generator().manual_seed(0)
        np.testing.assert_allclose(d.dpmpp_sample(oracle, xT, steps=steps, generator=g), x0, atol=1e-3)
    np.testing.assert_allclose(d.ddpm_sample(oracle, xT, generator=torch.Generator().manual_seed(0)), x0, atol=1e-3)


def test_dpmpp_draws_a_gaussian_process_as_ddpm_does_where_ddim_draws_it_narrower_and_smoother():
    """Latents from an AR(1) Gaussian process (std 1, lag-1 autocorrelation 0.95) with its exact
    denoiser (the posterior mean), so every error is the sampler's: 50 DPM-Solver++ steps keep the
    spread and the roughness as the 1000 DDPM steps do; 50 stochastic DDIM steps (the previous
    default) draw them ~6 % narrower and smoother, as they did from fitted models."""
    L, rho = 64, 0.95
    lag = torch.arange(L, dtype=torch.float64)
    w, V = torch.linalg.eigh(rho ** (lag[:, None] - lag[None, :]).abs())  # the process's covariance
    d = GaussianDiffusion(DiffusionConfig(prediction="v"))

    def exact(x, t):
        a, x = d._abar(t, x).double(), x.double()  # (B, 1, 1), (B, 1, L)
        x0 = ((x @ V) * (a.sqrt() * w / (a * w + 1 - a))) @ V.T  # E[x0 | x_t]
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return d.target(x0, eps, t).float()

    def spread_and_lag1(z):
        c = z.double() - z.double().mean()
        return float(c.std()), float((c[..., 1:] * c[..., :-1]).mean() / (c**2).mean())

    xT = torch.randn(3000, 1, L, generator=torch.Generator().manual_seed(1))
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    std, lag1 = spread_and_lag1(d.dpmpp_sample(exact, xT, steps=50, generator=g()))
    ref_std, ref_lag1 = spread_and_lag1(d.ddpm_sample(exact, xT, generator=g()))
    ddim_std, ddim_lag1 = spread_and_lag1(d.ddim_sample(exact, xT, steps=50, eta=1.0, generator=g()))
    assert abs(std - 1) < 0.04 and abs(ref_std - 1) < 0.04, (std, ref_std)
    assert abs(lag1 - rho) < 0.004 and abs(ref_lag1 - rho) < 0.004, (lag1, ref_lag1)
    assert ddim_std < 0.95 and ddim_lag1 > rho + 0.008, (ddim_std, ddim_lag1)


def test_logsnr_steps_run_from_the_noisiest_step_to_the_clean_end():
    d = GaussianDiffusion(DiffusionConfig())
    seq = d.logsnr_steps(50)
    assert seq[0] == 999 and seq[-1] == 0 and seq == sorted(set(seq), reverse=True)
    assert 40 <= len(seq) <= 50
    assert sum(t < 50 for t in seq) > 10  # evenly spaced steps put 2-3 there


def test_ddim_step_matches_the_closed_form():
    d = GaussianDiffusion(DiffusionConfig())
    x, eps = torch.randn(1, 2, 5), torch.randn(1, 2, 5)
    t, tp = 700, 400
    ab = d.alphas_cumprod
    x0 = (x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()
    expected = ab[tp].sqrt() * x0 + (1 - ab[tp]).sqrt() * eps
    np.testing.assert_allclose(d.ddim_step(eps, x, t, tp), expected.float(), atol=1e-5)


def test_ddim_inversion_round_trip():
    torch.manual_seed(0)
    den = Denoiser(config=DenoiserConfig(latent_dim=2, hidden=8, n_blocks=1, state_size=4, embed_dim=8))
    d = GaussianDiffusion(DiffusionConfig())
    fn = lambda x, t: den(x, t)  # noqa: E731
    x0 = torch.randn(2, 2, 16)
    xT = d.ddim_invert(fn, x0, steps=100)
    np.testing.assert_allclose(d.ddim_sample(fn, xT, steps=100), x0, atol=0.05)


def test_diffusion_loss_respects_the_mask():
    d = GaussianDiffusion(DiffusionConfig(loss="mse"))
    x0 = torch.randn(2, 3, 10)
    mask = torch.zeros(2, 1, 10)
    mask[..., :4] = 1

    # a model that is exact on the valid bins and wrong on the padding has zero masked loss
    def fn(x, t):
        a = d._abar(t, x)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return eps * mask + 100 * (1 - mask)

    assert d.loss(fn, x0, mask=mask).item() < 1e-6


# ---- observation models -----------------------------------------------------------------------
def test_history_term_matches_a_loop():
    torch.manual_seed(0)
    glm = SpikeHistoryGLM(n_neurons=3, history=4, cap=2)
    with torch.no_grad():
        glm.w.normal_()
    counts = torch.poisson(torch.full((2, 3, 15), 1.5))
    fast = glm.history_term(counts)
    slow = torch.zeros_like(fast)
    for t in range(15):
        for k in range(1, 5):
            if t - k >= 0:
                slow[..., t] += glm.w[:, k - 1] * counts[..., t - k].clamp(max=2)
    np.testing.assert_allclose(fast.detach(), slow.detach(), atol=1e-5)


def test_spike_history_fit_recovers_refractoriness():
    """Spikes from a GLM with a strong lag-1 suppression: fitting recovers w_1 < 0 and beats Poisson."""
    torch.manual_seed(0)
    true = SpikeHistoryGLM(n_neurons=4, history=3)
    with torch.no_grad():
        true.w[:, 0] = -3.0
    rates = torch.full((200, 4, 50), 0.6)
    counts = true.sample(rates, generator=torch.Generator().manual_seed(1))
    glm = SpikeHistoryGLM(n_neurons=4, history=3)
    opt = torch.optim.Adam(glm.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = glm.loss(counts, rates)
        loss.backward()
        opt.step()
    assert (glm.w[:, 0] < -1.5).all()
    assert (
        glm.loss(counts, rates).item()
        < PoissonObservation().loss(counts, counts.mean() * torch.ones_like(rates)).item()
    )


def test_poisson_sampling_is_seeded():
    obs = PoissonObservation()
    r = torch.full((2, 3, 10), 2.0)
    a = obs.sample(r, generator=torch.Generator().manual_seed(3))
    b = obs.sample(r, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.sum() > 0


@pytest.mark.parametrize(
    "name", sorted(__import__("nwb_ldns.models.observation").models.observation.OBSERVATION_MODELS)
)
def test_every_observation_model_keeps_the_contract(name):
    from nwb_ldns.artifacts import STAGES
    from nwb_ldns.config import PRESETS, TrainConfig

    cls = OBSERVATION_MODELS[name]
    obs = cls.build(n_neurons=3)
    assert obs.name == name and isinstance(cls.label, str)
    rates = torch.full((2, 3, 16), 0.3)
    counts = obs.sample(rates, generator=torch.Generator().manual_seed(0))
    assert counts.shape == rates.shape and (counts >= 0).all() and (counts == counts.round()).all()
    assert torch.isfinite(obs.loss(counts, rates)) and obs.loss(counts, rates).ndim == 0
    assert (name in STAGES) == cls.fitted
    if cls.fitted:  # a stage of its own: a per-trial loss, a train config per preset, a time share, saved weights
        assert obs.loss(counts, rates, reduction="trial").shape == (2,)
        assert set(cls.train_presets) == set(PRESETS) and 0 < cls.time_share < 1
        for preset in PRESETS:
            TrainConfig(**cls.train_presets[preset])
        again = cls.build(n_neurons=3, state=obs.state_dict())
        again.load_state_dict(obs.state_dict())


def test_denoising_in_windows_matches_a_naive_weighted_average():
    from nwb_ldns.fitted import denoise_in_windows, window_starts

    assert window_starts(32, 32) == [0] and window_starts(80, 32) == [0, 16, 32, 48]
    assert window_starts(70, 32) == [0, 16, 32, 38]  # the last window ends at the end
    torch.manual_seed(0)
    B, D, C, L, size = 2, 3, 2, 70, 32
    x, series = torch.randn(B, D, L), torch.randn(B, C, L)
    mask, cond, code, t = torch.ones(B, 1, L), torch.randn(B, 4), torch.randn(B, 5), torch.tensor([7, 9])
    seen = []

    def call(xw, tw, m, c, s, k):  # depends on the whole window: a window's own mean, per trial and channel
        seen.append((xw.shape, tuple(tw.tolist()), *(None if a is None else a.shape for a in (m, c, s, k))))
        s0 = 0.0 if s is None else s[:, :1] * c[:, :1, None]
        return xw - xw.mean(-1, keepdim=True) + s0 + k[:, :1, None] + tw[:, None, None]

    out = denoise_in_windows(call, x, t, size=size, per_bin=(mask, series), per_trial=(cond, code))
    starts = window_starts(L, size)
    n = len(starts)
    assert seen == [((B * n, D, size), (7,) * n + (9,) * n, (B * n, 1, size), (B * n, 4), (B * n, C, size), (B * n, 5))]
    w = [min(i + 1, size - i) for i in range(size)]
    naive = torch.zeros(B, D, L)
    for b in range(B):
        for tb in range(L):
            num = den = 0.0
            for i in starts:
                if i <= tb < i + size:
                    xw = x[b, :, i : i + size]
                    v = xw[:, tb - i] - xw.mean(-1) + series[b, 0, tb] * cond[b, 0] + code[b, 0] + t[b]
                    num, den = num + w[tb - i] * v, den + w[tb - i]
            naive[b, :, tb] = num / den
    torch.testing.assert_close(out, naive)
    short = denoise_in_windows(call, x[..., :size], t, size=size, per_bin=(None, None), per_trial=(cond, code))
    assert seen[-1][0] == (B, D, size) and short.shape == (B, D, size)  # no longer than a window: one call
