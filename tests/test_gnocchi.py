"""GNOCCHI: the MMD estimator, code conditioning, and encode -> generate with codes end to end."""

import copy
import dataclasses
import json
import types

import numpy as np
import pytest
import torch
from helpers import MAZE_WINDOW, error_line, run, tiny, tiny_args

from nwb_ldns import artifacts
from nwb_ldns.config import DataSpec, GnocchiConfig
from nwb_ldns.dataset import load_dataset
from nwb_ldns.errors import NwbLdnsError
from nwb_ldns.fit import fit, fit_code_prior
from nwb_ldns.fitted import LdnsModel
from nwb_ldns.generate import generate, traverse_codes
from nwb_ldns.io.nwbfile import open_latents
from nwb_ldns.models.infodiffusion import mmd_rbf

torch.set_num_threads(1)
MAZE = "sim:maze?n_trials=80&n_neurons=12"
ALIGN = MAZE_WINDOW
TINY = {
    **tiny(
        diffusion_train={"epochs": 2, "batch_size": 32, "lr": 2e-3},
        gnocchi={"code_dim": 2, "encoder_hidden": 16, "encoder_state_size": 4},
    ),
    "diffusion": {"cond_drop": 0.1},  # codes dropped in training (not the GNOCCHI default), so guidance is tested
}


def test_mmd_by_hand_and_against_the_gaussian_closed_form():
    # one point each, d = 1, sigma^2 = 1: k(x,x) + k(y,y) - 2 k(x,y) = 2 - 2 exp(-1/2)
    assert float(mmd_rbf(torch.zeros(1, 1), torch.ones(1, 1))) == pytest.approx(2 - 2 * np.exp(-0.5))
    # N(mu, s1^2 I) vs N(0, s2^2 I) in d dims, kernel exp(-|a-b|^2 / (2 d)): closed-form expectations
    d, s1, s2, n = 3, 0.7, 1.0, 1500
    mu = np.array([1.0, 0.0, 0.0])
    g = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(10):  # one estimate has sd ~0.005 at n = 1500; the mean of 10 has ~0.0016
        x = torch.randn(n, d, generator=g, dtype=torch.float64) * s1 + torch.as_tensor(mu)
        y = torch.randn(n, d, generator=g, dtype=torch.float64) * s2
        draws.append(float(mmd_rbf(x, y)))
    s2k = float(d)
    exx = (s2k / (s2k + 2 * s1**2)) ** (d / 2)
    eyy = (s2k / (s2k + 2 * s2**2)) ** (d / 2)
    v = s2k + s1**2 + s2**2
    exy = (s2k / v) ** (d / 2) * np.exp(-mu @ mu / (2 * v))
    # the biased estimator keeps the diagonal (k = 1): E = exx + (1 - exx)/n + eyy + (1 - eyy)/n - 2 exy
    expected = exx + (1 - exx) / n + eyy + (1 - eyy) / n - 2 * exy
    assert np.mean(draws) == pytest.approx(expected, abs=0.005)
    assert expected > 0.05  # the case is far from trivial
    same = mmd_rbf(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g))
    assert float(same) < 2e-3


@pytest.fixture(scope="module")
def gnocchi(tmp_path_factory):
    d = tmp_path_factory.mktemp("gnocchi") / "m"
    data = load_dataset(MAZE, DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0)))
    fit(data, d, preset="quick", method="gnocchi", overrides=TINY, progress=False, device="cpu")
    return d, artifacts.load_model(d, require=("autoencoder", "diffusion")), data


def test_gnocchi_model_dir_and_codes(gnocchi):
    d, m, data = gnocchi
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["method"] == "gnocchi" and cfg["configs"]["gnocchi"]["code_dim"] == 2
    assert cfg["configs"]["denoiser"]["code_dim"] == 2 and m.code_dim == 2 and m.method == "gnocchi"
    codes = m.codes(data.counts_bct(), data.lengths)
    assert codes.shape == (80, 2) and np.isfinite(codes).all() and codes.std(0).min() > 0


def test_codes_condition_samples_and_fixed_code_and_noise_reproduce(gnocchi):
    _, m, _ = gnocchi
    a = generate(m, codes=np.array([[2.0, -2.0]] * 3), seed=5)
    b = generate(m, codes=np.array([[2.0, -2.0]] * 3), seed=5)
    c = generate(m, codes=np.array([[-2.0, 2.0]] * 3), seed=5)
    np.testing.assert_array_equal(a.latents, b.latents)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert np.abs(a.latents - c.latents).max() > 1e-4  # the code changes the samples
    sweep = generate(m, codes=traverse_codes(np.zeros(2), 0, -1.5, 1.5, 4), seed=0, fixed_noise=True)
    np.testing.assert_allclose(sweep.codes[:, 0], [-1.5, -0.5, 0.5, 1.5])
    # DDIM inversion with the trial's own code: generating from (code, x_T) gives the trial's latents back
    _, _, data = gnocchi
    codes, x_T = m.invert(data.counts_bct()[:3], steps=100)
    back = generate(m, codes=codes, noise=x_T, steps=100)
    z, _ = m.encode(data.counts_bct()[:3])
    assert np.abs(back.latents - z).max() < 0.05 * np.abs(z).max()
    moved = generate(m, codes=codes + np.array([1.5, 0.0], dtype=np.float32), noise=x_T, steps=100)
    assert np.abs(moved.latents - back.latents).max() > 1e-4  # the same x_T at another code: another trial
    prior = generate(m, n_trials=4, seed=0)  # codes drawn from the code prior
    assert prior.codes.shape == (4, 2) and prior.settings["codes"] == "code prior"
    with pytest.raises(NwbLdnsError, match=r"codes must be shaped \(n_trials, 2\)"):
        generate(m, codes=np.zeros((3, 5)))


def test_guidance_by_the_code_against_the_two_branches(gnocchi):
    _, fitted, _ = gnocchi
    assert fitted.denoiser.config.null_code and fitted.denoiser.null_code is not None  # dropped in training
    # a copy whose code pathway is far from its (near-zero) init, so every check below can fail
    m = dataclasses.replace(fitted, denoiser=copy.deepcopy(fitted.denoiser))
    den = m.denoiser
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in den.blocks:
            block.extra[1].weight.normal_(0.0, 0.3, generator=g)
            block.modulation[1].bias.normal_(0.0, 0.3, generator=g)  # open the zero-initialised gates
    x = torch.randn(3, m.latent_dim, 20, generator=g)  # (B, D, L)
    t = torch.tensor([10, 500, 900])
    code = torch.randn(3, m.code_dim, generator=g)  # (B, K)
    with torch.no_grad():
        den.null_code.copy_(torch.tensor([0.7, -1.3]))  # a non-zero null code, so the check can fail
        c = den(x, t, code=code)
        u = den(x, t, code=den.null_code.expand(3, -1))
        dropped = den(x, t, code=code, drop=torch.tensor([True, False, True]))
        guided = m._model_fn(cond=None, series=None, mask=None, guidance=2.5, code=code)(x, t)
    assert (c - u).abs().max() > 1e-4  # the code matters to this model
    torch.testing.assert_close(dropped[[0, 2]], u[[0, 2]])
    torch.testing.assert_close(dropped[1], c[1])
    torch.testing.assert_close(guided, u + 2.5 * (c - u), rtol=1e-4, atol=1e-5)
    a = generate(m, codes=np.array([[1.0, -1.0]] * 2), seed=3, guidance=3.0)
    b = generate(m, codes=np.array([[1.0, -1.0]] * 2), seed=3)
    assert np.abs(a.latents - b.latents).max() > 1e-4 and a.settings["guidance"] == 3.0
    # a model fitted without code dropout has no null code to guide against
    plain = dataclasses.replace(m, denoiser=type(den)(config=den.config.replace(null_code=False)))
    with pytest.raises(NwbLdnsError, match="without code dropout"):
        generate(plain, codes=np.zeros((1, 2)), guidance=2.0)
    generate(plain, codes=np.zeros((1, 2)))  # guidance 1 needs no null code


def test_the_code_encoder_reads_counts_not_latents(gnocchi):
    _, m, data = gnocchi  # the default encoder_input
    assert m.code_encoder.reads_counts and m.code_encoder.inp.in_channels == m.n_neurons + 1 == 13
    counts = data.counts_bct()[:5]
    codes = m.codes(counts)
    with torch.no_grad():  # by hand: the encoder on log1p counts, with no mask
        direct = m.code_encoder(torch.log1p(torch.as_tensor(counts, dtype=torch.float32))).numpy()
    np.testing.assert_allclose(codes, direct, rtol=1e-5, atol=1e-6)
    # the codes do not pass through the autoencoder: scrambling its weights leaves them as they are
    other = dataclasses.replace(m, autoencoder=copy.deepcopy(m.autoencoder))
    with torch.no_grad():
        for p in other.autoencoder.parameters():
            p.add_(torch.randn_like(p))
    np.testing.assert_allclose(other.codes(counts), codes, rtol=1e-6, atol=1e-7)
    with pytest.raises(NwbLdnsError, match="encoder_input must be latents or counts"):
        GnocchiConfig(encoder_input="spikes")


def test_a_latents_encoder_and_a_model_saved_before_encoder_input(tmp_path):
    data = load_dataset(MAZE, DataSpec(align="move_onset_time", window_ms=(-250.0, 450.0)))
    over = {**TINY, "gnocchi": {**TINY["gnocchi"], "encoder_input": "latents"}}
    fit(data, tmp_path / "m", preset="quick", method="gnocchi", overrides=over, progress=False, device="cpu")
    m = artifacts.load_model(tmp_path / "m")
    assert not m.code_encoder.reads_counts and m.code_encoder.inp.in_channels == m.latent_dim + 1
    counts = data.counts_bct()[:5]
    codes = m.codes(counts)
    z, _ = m.encode(counts)
    with torch.no_grad():  # by hand: the encoder on the z-scored latents
        zn = (torch.as_tensor(z) - m.latent_mean[:, None]) / m.latent_std[:, None]
        np.testing.assert_allclose(codes, m.code_encoder(zn.float()).numpy(), rtol=1e-5, atol=1e-6)
    # config.json of a model saved before the field existed: it read latents, and loads so
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    del cfg["configs"]["gnocchi"]["encoder_input"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    old = artifacts.load_model(tmp_path / "m")
    assert not old.code_encoder.reads_counts
    np.testing.assert_allclose(old.codes(counts), codes, rtol=1e-6, atol=1e-7)


def test_code_prior_learns_clustered_codes_that_n01_misses():
    # codes in two tight clusters at (+-2.5, 0.5): what N(0, I) draws almost never lands near
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.5, 0.5], [-2.5, 0.5]])

    def draw(n):
        return centres[torch.randint(0, 2, (n,), generator=g)] + 0.2 * torch.randn(n, 2, generator=g)

    cfg = GnocchiConfig(code_dim=2, prior_hidden=64, prior_layers=2, prior_steps=1500)
    prior = fit_code_prior(draw(600), draw(100), config=cfg, seed=0)
    m = types.SimpleNamespace(code_dim=2, code_prior=prior, device=torch.device("cpu"))
    codes = LdnsModel.sample_codes(m, 400, generator=torch.Generator().manual_seed(1))  # (400, 2)
    near = np.linalg.norm(codes[:, None] - centres.numpy()[None], axis=-1).min(1) < 0.6
    assert near.mean() > 0.9
    left = (codes[near, 0] < 0).mean()
    assert 0.35 < left < 0.65  # both clusters, in proportion
    m.code_prior = None  # without a prior: N(0, I)
    base = LdnsModel.sample_codes(m, 400, generator=torch.Generator().manual_seed(1))
    assert (np.linalg.norm(base[:, None] - centres.numpy()[None], axis=-1).min(1) < 0.6).mean() < 0.1


def test_fit_encode_generate_with_codes_through_the_cli(tmp_path):
    m = tmp_path / "g"
    run(
        "fit",
        MAZE,
        "-o",
        m,
        "--method",
        "gnocchi",
        "--code-dim",
        3,
        *ALIGN,
        "--epochs-ae",
        1,
        "--epochs-diffusion",
        1,
        "--epochs-history",
        1,
        *tiny_args(),
    )
    run("encode", MAZE, "--model", m, "-o", tmp_path / "e.nwb.zarr", "-q")
    ds = open_latents(tmp_path / "e.nwb.zarr")
    assert ds["code"].shape == (80, 3)
    np.save(tmp_path / "codes.npy", ds["code"].values[:5])
    cfg = json.loads((m / "config.json").read_text())["configs"]
    assert cfg["diffusion"]["cond_drop"] == 0.0 and not cfg["denoiser"]["null_code"]  # GNOCCHI drops no codes
    p = run(
        "generate", "--model", m, "-o", tmp_path / "g.nwb", "--code", tmp_path / "codes.npy", "--guidance", 2, ok=False
    )
    assert "without code dropout" in error_line(p) and not (tmp_path / "g.nwb").exists()
    run("generate", "--model", m, "-o", tmp_path / "s.nwb", "--code", tmp_path / "codes.npy", "-q")
    out = open_latents(tmp_path / "s.nwb")
    np.testing.assert_allclose(out["code"].values, ds["code"].values[:5], rtol=1e-6)
    assert out["latents"].shape[0] == 5
    run(
        "generate",
        "--model",
        m,
        "-o",
        tmp_path / "t.nwb",
        "--code",
        tmp_path / "codes.npy",
        "--traverse",
        1,
        "--range",
        -1,
        1,
        "--points",
        3,
        "-q",
    )
    sweep = open_latents(tmp_path / "t.nwb")
    np.testing.assert_allclose(sweep["code"].values[:, 1], [-1, 0, 1])
    np.testing.assert_allclose(sweep["code"].values[:, 0], ds["code"].values[0, 0], rtol=1e-6)
    assert json.loads(sweep.attrs["generation"])["fixed_noise"] is True
    p = run("generate", "--model", m, "-o", tmp_path / "bad.nwb", "--traverse", 7, ok=False)
    assert "dimensions 0..2" in error_line(p)
    # around a real trial (InfoDiffusion): its code and inverted x_T; the sweep's middle passes its own code
    trial = ds["trial"].values[4]
    own = float(ds["code"].values[4, 1])
    args = ("--traverse", 1, "--range", own - 0.5, own + 0.5, "--points", 3, "--ddim-steps", 100, "-q")
    run("generate", "--model", m, "-o", tmp_path / "r.nwb", "--from-trial", trial, "--real", MAZE, *args)
    around = open_latents(tmp_path / "r.nwb")
    np.testing.assert_allclose(around["code"].values[:, 1], [own - 0.5, own, own + 0.5], rtol=1e-5)
    np.testing.assert_allclose(around["code"].values[:, [0, 2]], ds["code"].values[[4] * 3][:, [0, 2]], rtol=1e-5)
    z = ds["latents"].values[4]  # the trial's encoded latents (latent, time)
    err = np.abs(around["latents"].values[1] - z).max()  # the regenerated trial (what the code moves: above)
    assert err < 0.05 * np.abs(z).max()
    p = run("generate", "--model", m, "-o", tmp_path / "x.nwb", "--from-trial", 99999, "--real", MAZE, *args, ok=False)
    assert "trial 99999 is not among the 80 trials" in error_line(p)
    p = run("generate", "--model", m, "-o", tmp_path / "x.nwb", "--from-trial", trial, "--traverse", 1, ok=False)
    assert "--from-trial and --real go together" in p.stderr


def test_code_with_an_ldns_model_is_a_clear_error(tmp_path):
    m = tmp_path / "l"
    run("fit", MAZE, "-o", m, *ALIGN, "--epochs-ae", 1, "--epochs-diffusion", 1, "--stage", "autoencoder", *tiny_args())
    run("fit", MAZE, "-o", m, *ALIGN, "--epochs-ae", 1, "--epochs-diffusion", 1, "--stage", "diffusion", *tiny_args())
    np.save(tmp_path / "c.npy", np.zeros((2, 3)))
    p = run("generate", "--model", m, "-o", tmp_path / "s.nwb", "--code", tmp_path / "c.npy", ok=False)
    assert "--method gnocchi" in error_line(p)
