"""The model dir: ``config.json`` plus safetensors weights; loading never unpickles.

Layout::

    MODEL_DIR/
      config.json                  every config, the data spec, provenance, training history, versions
      autoencoder.safetensors
      diffusion.safetensors        EMA weights, plus latent_mean / latent_std and sample_rate_offset
      spike_history.safetensors    (optional stage)
      checkpoints/STAGE.safetensors  training state while a stage runs (removed when it ends)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._version import __version__
from .config import AutoencoderConfig, ConditionSpec, DataSpec, DenoiserConfig, DiffusionConfig
from .errors import NwbLdnsError
from .io.outputs import write_atomically
from .models.observation import FITTED_OBSERVATIONS, OBSERVATION_MODELS

FORMAT = "nwb-ldns-model"
FORMAT_VERSION = 1
#: the fit stages in order: each fitted observation model (``spike_history``) is a stage of its own
STAGES = ("autoencoder", "diffusion", *FITTED_OBSERVATIONS)
DEFAULT_MODEL_DIR = "ldns-model"


def versions() -> dict[str, str]:
    import pynwb

    return {
        "nwb_ldns": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pynwb": pynwb.__version__,
        "python": platform.python_version(),
    }


def write_json(path: Path, obj: dict) -> None:
    """Atomic JSON write (temporary name, then rename)."""
    write_atomically(path, lambda t: t.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n"))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Atomic safetensors write; tensors are made contiguous and moved to the CPU."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_atomically(path, lambda t: save_file(flat, str(t), metadata=metadata), shared=True)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise NwbLdnsError(f"{path} is not a readable safetensors file ({type(exc).__name__}: {exc})") from None


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise NwbLdnsError(f"{path} is not a readable safetensors file ({type(exc).__name__}: {exc})") from None


# ---- config.json ---------------------------------------------------------------------------------
def read_config(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The model dir's ``config.json``, checked for format; a one-line error if absent or corrupt."""
    d = Path(model_dir)
    path = d / "config.json"
    if not d.is_dir():
        raise NwbLdnsError(f"no model dir at {d} (fit one with `nwb-ldns fit SOURCE -o {d}`)")
    if not path.is_file():
        raise NwbLdnsError(f"{d} is not a model dir: config.json is missing")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NwbLdnsError(f"{path} is corrupt: {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise NwbLdnsError(
            f"{path} is not an nwb-ldns model config (format {cfg.get('format')!r})"
            if isinstance(cfg, dict)
            else f"{path} is not an nwb-ldns model config"
        )
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise NwbLdnsError(f"{path} was written by a newer nwb-ldns (format {cfg['format_version']}); upgrade")
    return cfg


def new_config(*, method: str, data: dict, provenance: dict, condition: ConditionSpec, configs: dict) -> dict:
    cfg = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": method,
        "versions": versions(),
        "data": data,
        "provenance": provenance,
        "condition": condition.to_dict(),
        "configs": configs,
        "stages": {},
    }
    return json.loads(json.dumps(cfg, default=_json_default))  # as it reads back (tuples -> lists)


def _weights(model_dir: Path, stage: str) -> Path:
    return model_dir / f"{stage}.safetensors"


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise NwbLdnsError(f"{path} does not match the architecture in config.json: {first}") from None


def load_model(
    model_dir: str | os.PathLike = DEFAULT_MODEL_DIR,
    *,
    device: str | torch.device = "cpu",
    require: tuple[str, ...] = ("autoencoder",),
):
    """Load a fitted model from its dir (safetensors only: never runs code from the files).

    Parameters
    ----------
    model_dir : path
        A model dir, or an ``.nwb``/``.nwb.zarr`` file written with ``--include-weights``.
    device : ``cpu``, ``cuda``, ``auto`` or a torch.device
    require : stages that must be present (others load when there)

    Returns
    -------
    nwb_ldns.fitted.LdnsModel
    """
    from .fitted import LdnsModel, resolve_device
    from .models.autoencoder import Autoencoder
    from .models.denoiser import Denoiser

    d = Path(model_dir)
    if d.suffix == ".nwb" or str(d).rstrip("/").endswith(".zarr"):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="nwb-ldns-model-") as tmp:
            extract_model(d, tmp)
            model = load_model(tmp, device=device, require=require)
        model.path = None
        model.info["loaded_from"] = str(d)
        return model
    cfg = read_config(d)
    done = cfg.get("stages", {})
    for stage in require:
        if stage not in done or not _weights(d, stage).is_file():
            raise NwbLdnsError(f"{d} has no fitted {stage.replace('_', '-')} stage (fit it: `resume` the fit into {d})")
    try:
        configs = cfg["configs"]
        ae = Autoencoder(config=AutoencoderConfig.from_dict(configs["autoencoder"]))
        data = dict(cfg["data"])
        data["spec"] = DataSpec.from_dict(data["spec"])
        condition = ConditionSpec.from_dict(cfg.get("condition", {}))
        diffusion = DiffusionConfig.from_dict(configs.get("diffusion", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise NwbLdnsError(f"{d / 'config.json'} is incomplete or corrupt ({type(exc).__name__}: {exc})") from None
    path = _weights(d, "autoencoder")
    load_state(ae, load_tensors(path), path)
    D = ae.config.latent_dim
    denoiser, code_encoder, code_prior, mean, std = None, None, None, torch.zeros(D), torch.ones(D)
    rate_offset = None
    if "diffusion" in done and _weights(d, "diffusion").is_file():
        path = _weights(d, "diffusion")
        t = load_tensors(path)
        mean, std = t.pop("latent_mean", None), t.pop("latent_std", None)
        if mean is None or std is None:
            raise NwbLdnsError(f"{path} lacks latent_mean/latent_std")
        rate_offset = t.pop("sample_rate_offset", None)  # absent in models saved before it
        if rate_offset is not None and (
            rate_offset.shape != (ae.config.n_neurons,) or not torch.isfinite(rate_offset).all()
        ):
            raise NwbLdnsError(f"{path}: sample_rate_offset is not one finite value per unit")
        den_cfg = DenoiserConfig.from_dict(configs["denoiser"])
        if cfg.get("method") == "gnocchi":  # code encoder + code-conditioned denoiser, saved together
            from .config import GnocchiConfig
            from .models.infodiffusion import InfoDiffusion

            # models saved before the encoder could read counts read latents
            g_cfg = GnocchiConfig.from_dict({"encoder_input": "latents", **configs.get("gnocchi", {})})
            net = InfoDiffusion(
                denoiser=den_cfg,
                config=g_cfg,
                n_neurons=ae.config.n_neurons,
                prior=any(k.startswith("prior.") for k in t),
            )
            load_state(net, t, path)
            denoiser, code_encoder, code_prior = net.denoiser, net.encoder, net.prior
        else:
            denoiser = Denoiser(config=den_cfg)
            load_state(denoiser, t, path)
    observations = {}
    for name in FITTED_OBSERVATIONS:
        if name in done and _weights(d, name).is_file():
            path = _weights(d, name)
            t = load_tensors(path)
            observations[name] = OBSERVATION_MODELS[name].build(n_neurons=ae.config.n_neurons, state=t)
            load_state(observations[name], t, path)
    model = LdnsModel(
        autoencoder=ae,
        denoiser=denoiser,
        diffusion=diffusion,
        latent_mean=mean,
        latent_std=std,
        condition=condition,
        observations=observations,
        data=data,
        info=cfg,
        path=d,
        code_encoder=code_encoder,
        code_prior=code_prior,
        sample_rate_offset=rate_offset,
    )
    return model.to(resolve_device(str(device)) if not isinstance(device, torch.device) else device)


def extract_model(nwb_path: str | os.PathLike, model_dir: str | os.PathLike) -> Path:
    """Write the model stored in an NWB output (``--include-weights``) as a model dir.

    The weights are safetensors bytes, so nothing in the file is executed.
    """
    from .io.nwbfile import open_nwb, read_ldns_model

    out = Path(model_dir)
    with open_nwb(nwb_path) as io:
        meta = read_ldns_model(io, nwb_path)
        try:
            cfg = json.loads(meta.config)
            cfg["stages"] = json.loads(meta.training_history)
        except (TypeError, ValueError) as exc:
            raise NwbLdnsError(f"{nwb_path}: the model config is corrupt ({exc})") from None
        blobs = {s: getattr(meta, f"{s}_weights", None) for s in cfg["stages"]}
        if any(b is None for b in blobs.values()):
            raise NwbLdnsError(
                f"{nwb_path} names its model but holds no weights; write it with `include_weights`, "
                "or use the model dir"
            )
        sums = cfg.pop("weights_sha256", None) or {}  # files written before checksums have none
        datas = {stage: np.asarray(blob[:], dtype=np.uint8).tobytes() for stage, blob in blobs.items()}
        for stage, data in datas.items():
            if stage in sums and hashlib.sha256(data).hexdigest() != sums[stage]:
                raise NwbLdnsError(
                    f"{nwb_path}: the {stage} weights do not match their checksum (altered or damaged); "
                    "not loading them"
                )
        out.mkdir(parents=True, exist_ok=True)
        for stage, data in datas.items():
            write_atomically(_weights(out, stage), lambda t, data=data: t.write_bytes(data), shared=True)
    write_json(out / "config.json", cfg)
    return out


# ---- training checkpoints ----------------------------------------------------------------------------
def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON-able rest."""
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for pid, st in state["state"].items():
        meta["state"][str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
                meta["state"][str(pid)][k] = "tensor"
            else:
                meta["state"][str(pid)][k] = v
    return tensors, meta


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for pid, st in meta["state"].items():
        state[int(pid)] = {k: tensors[f"{pid}.{k}"] if v == "tensor" else v for k, v in st.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: Path, *, modules: dict[str, dict[str, torch.Tensor]], info: dict) -> None:
    """One safetensors file: ``{prefix}/{name}`` tensors for each state dict, ``info`` as JSON metadata."""
    flat = {}
    for prefix, sd in modules.items():
        for k, v in sd.items():
            flat[f"{prefix}/{k}"] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, flat, metadata={"info": json.dumps(info, default=_json_default)})


def load_checkpoint(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """Inverse of :func:`save_checkpoint`."""
    tensors = load_tensors(path)
    try:
        info = json.loads(read_metadata(path)["info"])
    except (KeyError, json.JSONDecodeError):
        raise NwbLdnsError(f"checkpoint {path} has no training state; delete it and start again") from None
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        prefix, _, name = k.partition("/")
        modules.setdefault(prefix, {})[name] = v
    return modules, info
