"""What the test modules share: the tiny model sizes and running the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
#: MC_Maze's trial window (and hand velocity, read 100 ms later) as ``fit``/``bin`` options
MAZE_WINDOW = ["--align", "move_onset_time", "--window", -250, 450]
MAZE_VELOCITY = [*MAZE_WINDOW, "--behavior", "hand_vel", "--behavior-lag-ms", 100]


def tiny(*, latent_dim: int = 3, ae: int = 1, diffusion: int = 1, history: int = 1, **extra) -> dict:
    """``fit(overrides=...)`` for a model of a few thousand parameters trained ``ae``/``diffusion``/``history``
    passes in batches of 32; ``extra`` adds or replaces whole config sections."""
    return {
        "autoencoder": {"hidden": 16, "latent_dim": latent_dim, "n_blocks": 1, "state_size": 4},
        "denoiser": {"hidden": 16, "n_blocks": 1, "state_size": 4, "embed_dim": 16},
        "ae_train": {"epochs": ae, "batch_size": 32},
        "diffusion_train": {"epochs": diffusion, "batch_size": 32},
        "history_train": {"epochs": history, "batch_size": 32},
        **extra,
    }


def tiny_args(*, batch_size: int = 32, quiet: bool = True) -> list[str]:
    """The same sizes as ``fit`` options (training length is left to each test)."""
    args = ["--preset", "quick", "--hidden", "16", "--latent-dim", "3", "--denoiser-hidden", "16"]
    args += ["--batch-size", str(batch_size), "--device", "cpu"]
    return args + (["-q"] if quiet else [])


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "nwb_ldns_cli.main", *map(str, args)]


def run(*args, ok: bool = True, cwd=None, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """``nwb-ldns ARGS`` in a subprocess on one thread; with ``ok`` it must exit 0."""
    p = subprocess.run(cli(*args), capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout, **kw)
    if ok:
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def one_line_error(p) -> str:
    """Exit 1 and stderr is exactly one line, ``Error: ...``."""
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0]


def error_line(p) -> str:
    """Exit 1 and exactly one ``Error`` line on stderr (warnings may come before it)."""
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [line for line in p.stderr.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1, p.stderr
    return lines[0]


def venv_python(*requirements: str) -> str:
    """The python of a virtual environment with exactly ``requirements`` installed (no nwb-ldns):
    built once per set under ``$NWB_LDNS_TEST_VENVS`` (default ~/.cache/nwb-ldns/test-venvs), so
    files can be opened with other versions of pynwb and with tools that pin them."""
    import fcntl
    import hashlib
    from pathlib import Path

    root = Path(os.environ.get("NWB_LDNS_TEST_VENVS", Path.home() / ".cache" / "nwb-ldns" / "test-venvs"))
    root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    home, python = root / key, root / key / "bin" / "python"
    with open(root / f"{key}.lock", "w") as lock:  # xdist workers may ask for the same one
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "installed").exists():
            import shutil

            shutil.rmtree(home, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=120)
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]
            p = subprocess.run(pip, capture_output=True, text=True, timeout=900)
            assert p.returncode == 0, f"pip install {' '.join(requirements)} failed:\n{p.stderr[-3000:]}"
            (home / "installed").write_text("\n".join(requirements) + "\n")
    return str(python)
