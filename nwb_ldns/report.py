"""The evaluate report: ``metrics.json``, PNG figures and an ``index.html`` that shows them."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from . import metrics as M

REAL, SYN = "#1f77b4", "#d62728"


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.4g}"


def _figures(folder: Path, arrays: dict) -> list[tuple[str, str]]:
    """Write the PNGs of :data:`FIGURES` that apply; returns (file name, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for draw in FIGURES:
        made = draw(plt, arrays)
        if made is None:
            continue
        fig, name, caption = made
        fig.tight_layout()
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
        out.append((name, caption))
    return out


def _population_count(plt, arrays):
    la, lb = arrays.get("real_lengths"), arrays.get("synthetic_lengths")
    pa, pb = M.population_counts(arrays["real"], la), M.population_counts(arrays["synthetic"], lb)
    grid = np.arange(int(max(pa.max(initial=0), pb.max(initial=0))) + 1)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(grid, M.kde_density(pa, grid), color=REAL, label="real")
    ax.plot(grid, M.kde_density(pb, grid), color=SYN, label="synthetic")
    ax.set(xlabel="population spike count per bin", ylabel="density")
    ax.legend()
    return fig, "population_count.png", "Population spike count per bin (KDE), real vs synthetic"


def _correlation_isi(plt, arrays):
    a, b, bin_s = arrays["real"], arrays["synthetic"], arrays["bin_s"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    la, lb = arrays.get("real_lengths"), arrays.get("synthetic_lengths")
    pairs = [(M.pairwise_correlations(a, la), M.pairwise_correlations(b, lb), "pairwise correlation")]
    (ma, sa), (mb, sb) = M.isi_stats(a, bin_s), M.isi_stats(b, bin_s)
    pairs += [(ma, mb, "mean ISI (s)"), (sa, sb, "std ISI (s)")]
    for ax, (x, y, name) in zip(axes, pairs):
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=6, alpha=0.5, color=SYN)
        lo, hi = (float(np.min(np.r_[x[ok], y[ok]])), float(np.max(np.r_[x[ok], y[ok]]))) if ok.any() else (0, 1)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(xlabel=f"real {name}", ylabel=f"synthetic {name}", title=name)
    return fig, "correlation_isi.png", "Pairwise correlations and ISI statistics per neuron, synthetic against real"


def _rates_fano(plt, arrays):
    a, b, bin_s = arrays["real"], arrays["synthetic"], arrays["bin_s"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (x, y, name) in zip(
        axes,
        [
            (
                M.firing_rates(a, bin_s, arrays.get("real_lengths")),
                M.firing_rates(b, bin_s, arrays.get("synthetic_lengths")),
                "firing rate (Hz)",
            ),
            (M.fano_factors(a), M.fano_factors(b), "Fano factor"),
        ],
    ):
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=8, color=SYN)
        lo, hi = float(np.nanmin(np.r_[x, y])), float(np.nanmax(np.r_[x, y]))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(xlabel=f"real {name}", ylabel=f"synthetic {name}")
    return fig, "rates_fano.png", "Per-neuron firing rate and Fano factor, synthetic against real"


def _autocorrelation(plt, arrays):
    lags = np.arange(31) * arrays["bin_s"] * 1e3
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, c in (("real", REAL), ("synthetic", SYN)):
        ac = M.autocorrelation(arrays[key], 30, arrays.get(f"{key}_lengths"))
        m, s = np.nanmean(ac, 0), np.nanstd(ac, 0)
        ax.plot(lags[1:], m[1:], color=c, label=key)
        ax.fill_between(lags[1:], (m - s)[1:], (m + s)[1:], color=c, alpha=0.15)
    ax.set(xlabel="lag (ms)", ylabel="autocorrelation (mean +- sd over neurons)")
    ax.legend()
    return fig, "autocorrelation.png", "Per-neuron autocorrelation, averaged over neurons"


def _rasters(plt, arrays):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, x, name, c in ((axes[0], arrays["real"], "real", REAL), (axes[1], arrays["synthetic"], "synthetic", SYN)):
        lengths = arrays.get(f"{name}_lengths")
        trial = x[0] if lengths is None else x[0][:, : lengths[0]]  # (neuron, time)
        for n in range(trial.shape[0]):
            t = np.flatnonzero(trial[n] > 0) * arrays["bin_s"]
            ax.vlines(t, n + 0.1, n + 0.9, color=c, lw=0.8)
        ax.set(xlabel="time in trial (s)", title=f"{name} trial", ylabel="neuron")
    return fig, "rasters.png", "One real and one synthetic trial, side by side"


def _latent_psd(plt, arrays):
    if "psd" not in arrays:
        return None
    f, pr, ps = arrays["psd"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for d in range(pr.shape[0]):
        ax.semilogy(f, pr[d], color=REAL, alpha=0.6, label="real (encoded)" if d == 0 else None)
        ax.semilogy(f, ps[d], color=SYN, alpha=0.6, ls="--", label="synthetic (sampled)" if d == 0 else None)
    ax.set(xlabel="frequency (Hz)", ylabel="power")
    ax.legend()
    return fig, "latent_psd.png", "Power spectral density of each latent channel"


def _decoded_trajectories(plt, arrays):
    w = arrays.get("velocity_decoder")
    if w is None:
        return None
    sv, bin_s = arrays["synthetic_velocity"], arrays["bin_s"]
    k = min(8, len(arrays["synthetic"]))
    x = arrays["synthetic_features"][:k].transpose(0, 2, 1)  # (k, time, N): what the decoder reads
    pred = M.ridge_predict(w, x.reshape(-1, x.shape[-1])).reshape(k, x.shape[1], -1)
    fig, ax = plt.subplots(figsize=(5, 5))
    for i in range(k):
        req, dec = np.cumsum(sv[i], 0) * bin_s, np.cumsum(pred[i], 0) * bin_s
        ax.plot(req[:, 0], req[:, 1], color="k", lw=1, label="requested" if i == 0 else None)
        ax.plot(dec[:, 0], dec[:, 1], color=SYN, lw=1, label="decoded from the synthetic trials" if i == 0 else None)
    ax.set(xlabel="x (integrated velocity)", ylabel="y", aspect="equal")
    ax.legend(fontsize=8)
    caption = (
        "Hand trajectories: the velocity the trials were conditioned on, and the one a decoder fitted on real "
        "data reads from the synthetic trials"
    )
    return fig, "decoded_trajectories.png", caption


def _latent_dim_sweep(plt, arrays):
    sweep = arrays.get("latent_dim_sweep")
    if not sweep:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(sweep["candidates"], sweep["co_bps"], yerr=sweep["sd"], fmt="o-", color=REAL, capsize=3)
    i = sweep["candidates"].index(sweep["chosen"])
    ax.plot([sweep["chosen"]], [sweep["co_bps"][i]], "o", ms=12, mfc="none", color=SYN, label="chosen")
    ax.set(xscale="log", xlabel="latent size", ylabel="held-out co-bps (validation trials)")
    ax.set_xticks(sweep["candidates"], [str(d) for d in sweep["candidates"]])
    ax.legend()
    caption = "fit --latent-dim auto: held-out co-bps of each latent size (bootstrap sd) and the size chosen"
    return fig, "latent_dim_sweep.png", caption


def _memorization(plt, arrays):
    d = arrays.get("memorization")
    if not d:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    both = np.concatenate([d["synthetic"], d["heldout"]])
    bins = np.linspace(0.0, float(both.max(initial=0.0)) or 1.0, 40)
    ax.hist(d["heldout"], bins=bins, density=True, alpha=0.6, color=REAL, label="held-out real trials")
    ax.hist(d["synthetic"], bins=bins, density=True, alpha=0.6, color=SYN, label="synthetic trials")
    ax.set(xlabel="distance to the closest training trial", ylabel="density")
    ax.legend()
    caption = "Memorization audit: distance to the closest training trial, synthetic vs held-out real trials"
    return fig, "memorization.png", caption


#: the report's figures in order: each ``draw(plt, arrays)`` gives (figure, file name, caption), or None
FIGURES = (
    _population_count,
    _correlation_isi,
    _rates_fano,
    _autocorrelation,
    _rasters,
    _latent_psd,
    _decoded_trajectories,
    _memorization,
    _latent_dim_sweep,
)


STAGE_TEXT = {
    "autoencoder": "the autoencoder: even the real trials passed through it are far from the floor, so a larger "
    "or longer-trained autoencoder (or more data) would help most.",
    "diffusion": "the diffusion model: the autoencoder reproduces the real trials closely, but the sampled latents "
    "do not yet match the encoded ones (compare the latent statistics below); longer training "
    "(fit --time-budget) or more data would help most.",
    "none": "neither stage stands out: the samples are about as close to the data as the autoencoder allows.",
}


UNLEARNED_TEXT = (
    "the autoencoder: its rates predict held-out spikes of the validation trials no better than each unit's "
    "mean rate, so the samples carry nothing of the recording beyond firing rates, however close their spike "
    "statistics look. More trials, fewer units or a longer fit (fit --time-budget) would help most."
)


def _limiting_html(metrics: dict) -> str:
    lim = metrics.get("limiting_stage") or {}
    stage = lim.get("stage")
    co = metrics.get("autoencoder_heldout_co_bps") or {}
    heldout = ""
    if co.get("mean") is not None:
        sd = f" &plusmn; {_fmt(co['sd'])}" if co.get("sd") is not None else ""
        heldout = (
            f'<p id="heldout-co-bps">Autoencoder on held-out spikes of the validation trials (scored by fit): '
            f"{_fmt(co['mean'])}{sd} bits per spike over each unit's mean rate.</p>"
        )
    if stage is None:
        return heldout
    text = UNLEARNED_TEXT if lim.get("unlearned") else STAGE_TEXT[stage]
    return f'<p id="limiting-stage" data-stage="{stage}"><b>What limits realism:</b> {html.escape(text)}</p>' + heldout


def _latent_table(metrics: dict) -> str:
    lat = metrics.get("latents")
    if not lat:
        return ""
    e, s = lat["encoded"], lat["sampled"]
    rows = "".join(
        f"<tr><td>{d}</td><td class=value>{_fmt(e['mean'][d])}</td><td class=value>{_fmt(s['mean'][d])}</td>"
        f"<td class=value>{_fmt(e['std'][d])}</td><td class=value>{_fmt(s['std'][d])}</td>"
        f"<td class=value>{_fmt(e['lag1_autocorrelation'][d])}</td>"
        f"<td class=value>{_fmt(s['lag1_autocorrelation'][d])}</td></tr>"
        for d in range(len(e["mean"]))
    )
    return (
        '<h2>Latents: encoded real trials vs sampled</h2><table id="latents"><thead><tr><th>channel</th>'
        "<th>mean (encoded)</th><th>mean (sampled)</th><th>std (encoded)</th><th>std (sampled)</th>"
        f"<th>lag-1 autocorr. (encoded)</th><th>lag-1 autocorr. (sampled)</th></tr></thead><tbody>{rows}"
        "</tbody></table>"
    )


def _rates_html(metrics: dict) -> str:
    r = metrics.get("rate_ratio") or {}
    if r.get("median") is None:
        return ""
    warn = M.rate_warning(r["median"])
    text = (
        f"Synthetic / real mean firing rate per neuron: median {_fmt(r['median'])} "
        f"(10-90 %: {_fmt(r['p10'])}-{_fmt(r['p90'])})."
    )
    return f'<p id="rate-ratio">{html.escape(text)}' + (f" <b>{html.escape(warn)}</b>" if warn else "") + "</p>"


def _memorization_html(metrics: dict) -> str:
    mem = metrics.get("memorization")
    if not mem:
        return ""
    if mem.get("flagged") is None:
        why = html.escape(mem["not_applicable"])
        return f'<p id="memorization" data-flagged="n/a"><b>Memorization audit:</b> {why}.</p>'
    s, h = mem["synthetic_distance"], mem["heldout_distance"]
    text = (
        f"Distance to the closest of {mem['n_train']} training trials ({mem['features']}): synthetic median "
        f"{_fmt(s['median'])} (5 %: {_fmt(s['p05'])}), held-out real median {_fmt(h['median'])} "
        f"(5 %: {_fmt(h['p05'])}). "
        f"{100 * mem['close_fraction']:.1f} % of synthetic trials are closer than 95 % of the {mem['n_heldout']} "
        f"held-out trials ({100 * mem['expected_close_fraction']:.0f} % expected; "
        f"binomial p {_fmt(mem['binomial_p'])}), "
        f"{mem['exact_copies']} exact copies."
    )
    verdict = (
        "Flagged: synthetic trials sit closer to training trials than new recordings do; they may copy "
        "training data. Do not share them."
        if mem["flagged"]
        else "Not flagged: synthetic trials are no closer to the training trials than held-out recordings are."
    )
    flag = str(mem["flagged"]).lower()
    body = f"<b>Memorization audit:</b> {html.escape(text)} <b>{verdict}</b>"
    return f'<p id="memorization" data-flagged="{flag}">{body}</p>'


def _html(metrics: dict, figures: list[tuple[str, str]]) -> str:
    floor = metrics.get("half_vs_half", {})
    ceiling = metrics.get("autoencoder_ceiling")
    rows = []
    for metric in M.METRICS:
        key, label = metric.name, metric.label
        if key not in metrics:
            continue
        v, f = metrics[key], floor.get(key, {})
        ratio = ""
        if v.get("mean") is not None and f.get("mean") not in (None, 0) and not metric.higher_is_better:
            ratio = _fmt(v["mean"] / f["mean"])
        sd = f" &plusmn; {_fmt(v['sd'])}" if v.get("sd") is not None else ""
        fsd = f" &plusmn; {_fmt(f['sd'])}" if f.get("sd") is not None else ""
        ceil = ""
        if ceiling is not None:
            c = ceiling.get(key, {})
            csd = f" &plusmn; {_fmt(c['sd'])}" if c.get("sd") is not None else ""
            ceil = f'<td class="ceiling">{_fmt(c.get("mean")) if c else "n/a"}{csd if c else ""}</td>'
        why = metrics.get("not_applicable", {}).get(key)
        value = f"not applicable ({html.escape(why)})" if why else f"{_fmt(v.get('mean'))}{sd}"
        rows.append(
            f'<tr data-metric="{key}"><td>{html.escape(label)}</td>'
            f'<td class="value">{value}</td>{ceil}'
            f'<td class="floor">{_fmt(f.get("mean")) if f else "n/a"}{fsd if f else ""}</td><td>{ratio}</td></tr>'
        )
    figs = "\n".join(
        f'<figure><img src="{html.escape(n)}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>'
        for n, c in figures
    )
    n = metrics.get("n_trials", {})
    ceiling_head = (
        "<th>autoencoder ceiling (real trials encoded, decoded, drawn again)</th>" if ceiling is not None else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nwb-ldns evaluate</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; }}
td.value, td.floor, td.ceiling {{ font-family: monospace; text-align: right; }}
figure {{ display: inline-block; margin: 1em; vertical-align: top; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>How real are the synthetic trials?</h1>
<p>Real: <code>{html.escape(str(metrics.get("real")))}</code> ({html.escape(str(metrics.get("split")))} split,
{n.get("real")} trials) &mdash; synthetic: <code>{html.escape(str(metrics.get("synthetic")))}</code>
({n.get("synthetic")} trials); {metrics.get("n_units")} units, {_fmt(metrics.get("bin_ms"))} ms bins.
Each value is the mean &plusmn; sd over {metrics.get("bootstrap_resamples")} draws of
{n.get("per_resample")} distinct real and as many distinct synthetic trials; the floor compares the same
real trials with as many other real trials (at most half the real trials each), drawn the same way,
{metrics.get("floor_draws")} times.</p>
{_rates_html(metrics)}
<table id="metrics"><thead><tr><th>metric</th><th>synthetic vs real</th>{ceiling_head}<th>real half vs half (floor)</th>
<th>ratio to floor</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
{_limiting_html(metrics)}
{_latent_table(metrics)}
{_memorization_html(metrics)}
<p>Raw numbers: <a href="metrics.json">metrics.json</a></p>
{figs}
<script>
// count figures that failed to load (checked by the test suite in headless Chromium)
window.addEventListener("load", () => {{
  const missing = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length;
  document.body.dataset.images = document.images.length;
  document.body.dataset.missingImages = missing;
}});
</script>
</body></html>
"""


def write_report(output_dir, metrics: dict, arrays: dict, *, overwrite: bool = False) -> Path:
    """Write ``metrics.json``, the figures and ``index.html`` into ``output_dir`` atomically.

    ``overwrite`` replaces only a report folder that nwb-ldns wrote (see :mod:`nwb_ldns.io.outputs`).
    """
    from .io.outputs import claim

    with claim(output_dir, kind="report", overwrite=overwrite) as out:
        out.tmp.mkdir()
        (out.tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        figures = _figures(out.tmp, arrays)
        (out.tmp / "index.html").write_text(_html(metrics, figures))
        return out.commit()


# ---- augment ----------------------------------------------------------------------------------------
def _augment_figure(folder: Path, metrics: dict) -> str:
    """Held-out R^2 against N, real-only and augmented, per decoder (first ratio), and the gain per ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = metrics["rows"]
    decoders = list(dict.fromkeys(r["decoder"] for r in rows))
    ratios = sorted({r["ratio"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, dec in enumerate(decoders):
        mine = [r for r in rows if r["decoder"] == dec and r["ratio"] == ratios[0]]
        n = [r["n_train"] for r in mine]
        for key, style in (("r2_real", "-"), ("r2_augmented", "--")):
            mean = [r[key]["mean"] for r in mine]
            sd = [r[key]["sd"] for r in mine]
            label = f"{dec}, {'real only' if key == 'r2_real' else f'+ {ratios[0]:g}x synthetic'}"
            axes[0].errorbar(n, mean, yerr=sd, fmt=style + "o", color=f"C{k}", label=label, capsize=3)
        for j, ratio in enumerate(ratios):
            mine = [r for r in rows if r["decoder"] == dec and r["ratio"] == ratio]
            gain = np.array([r["gain"]["mean"] for r in mine])
            ci = np.array([r["gain_ci95"] for r in mine]).T
            x = np.array([r["n_train"] for r in mine]) * (1 + 0.04 * (j - (len(ratios) - 1) / 2))
            axes[1].errorbar(
                x,
                gain,
                yerr=[gain - ci[0], ci[1] - gain],
                fmt="o-",
                color=f"C{k}",
                alpha=1 - 0.5 * j / max(1, len(ratios)),
                label=f"{dec}, {ratio:g}x",
                capsize=3,
            )
    axes[0].set(xscale="log", xlabel="real training trials N", ylabel="held-out velocity R²")
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set(xscale="log", xlabel="real training trials N", ylabel="R² gain from synthetic trials (95% CI)")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "augment.png", dpi=90)
    plt.close(fig)
    return "augment.png"


def _augment_html(metrics: dict, figure: str) -> str:
    body = "".join(
        f'<tr data-decoder="{r["decoder"]}" data-n="{r["n_train"]}" data-ratio="{r["ratio"]:g}"><td>{r["decoder"]}</td>'
        f"<td>{r['n_train']}</td><td>{r['ratio']:g}</td>"
        f'<td class="value">{_fmt(r["r2_real"]["mean"])} &plusmn; {_fmt(r["r2_real"]["sd"])}</td>'
        f'<td class="value">{_fmt(r["r2_augmented"]["mean"])} &plusmn; {_fmt(r["r2_augmented"]["sd"])}</td>'
        f'<td class="value">{_fmt(r["gain"]["mean"])} [{_fmt(r["gain_ci95"][0])}, {_fmt(r["gain_ci95"][1])}]</td>'
        f"<td>{html.escape(r['verdict'])}</td>"
        f'<td class="value">{_fmt(r["r2_synthetic_follows"]["mean"])} &plusmn; '
        f"{_fmt(r['r2_synthetic_follows']['sd'])}</td>"
        f'<td class="value">{_fmt(r["r2_resampled"]["mean"])} &plusmn; {_fmt(r["r2_resampled"]["sd"])}</td>'
        f'<td class="value">{_fmt(r["gain_over_resampled"]["mean"])} [{_fmt(r["gain_over_resampled_ci95"][0])}, '
        f"{_fmt(r['gain_over_resampled_ci95'][1])}]</td></tr>"
        for r in metrics["rows"]
    )
    decoders = ", ".join(f"{k}: {html.escape(v)}" for k, v in metrics["decoders"].items())
    budget = metrics["time_budget_s"]
    budget = "no time budget" if budget is None else f"time budget {_fmt(budget)} s"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nwb-ldns augment</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; }}
td.value {{ font-family: monospace; text-align: right; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Do synthetic trials help a velocity decoder?</h1>
<p>Source: <code>{html.escape(str(metrics.get("source")))}</code>. For each N, N real trials are
drawn from the {metrics["n_pool"]} train and val trials ({metrics["repeats"]} draws), a model
conditioned on <code>{html.escape(metrics["behavior"])}</code> is fitted on those N alone
(preset {html.escape(str(metrics["preset"]))}, {budget}),
and each decoder is trained on the N real trials alone and with ratio x N synthetic trials
conditioned on the same velocities. Scores: R² of velocity on the {metrics["n_test"]} held-out
test trials; mean &plusmn; sd over draws; the gain's 95% interval is a paired
bootstrap over test trials. Decoders: {decoders}. "Synthetic follow condition" says how closely the
synthetic trials follow the velocities they were conditioned on: R² of what a ridge decoder trained on the
N real trials reads from them (low values mean the model ignores its condition). The control needs
no model: the decoders are trained on the N real trials plus as many resampled real trials (each
real trial's spikes redrawn as Poisson counts of its own 20 ms-smoothed counts); the last column is
how much more the synthetic trials give than that, so a gain that any noisier copies of the data
would give is not credited to the model.</p>
<table id="augment"><thead><tr><th>decoder</th><th>N real</th><th>synthetic : real</th><th>R² real only</th>
<th>R² with synthetic</th><th>gain [95% CI]</th><th>verdict</th><th>synthetic follow condition (R²)</th>
<th>R² with resampled real (control)</th><th>synthetic over control [95% CI]</th>
</tr></thead><tbody>
{body}
</tbody></table>
<p>Raw numbers: <a href="metrics.json">metrics.json</a></p>
<figure><img src="{figure}" alt="held-out R² against N"><figcaption>Held-out velocity R² against the number of
real training trials, and the gain from synthetic trials</figcaption></figure>
</body></html>
"""


def write_augment_report(output_dir, metrics: dict, *, overwrite: bool = False) -> Path:
    """Write ``augment``'s ``metrics.json``, ``augment.png`` and ``index.html`` into ``output_dir`` atomically."""
    from .io.outputs import claim

    with claim(output_dir, kind="report", overwrite=overwrite) as out:
        out.tmp.mkdir()
        (out.tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        figure = _augment_figure(out.tmp, metrics)
        (out.tmp / "index.html").write_text(_augment_html(metrics, figure))
        return out.commit()
