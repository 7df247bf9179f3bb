"""`nwb-ldns share`: a dandiset folder prepared offline that `dandi validate` accepts, with a data
card; files without a passing memorization audit refused unless --force; outputs never replaced
unless written by share."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import error_line, run, tiny_args

SRC = "sim:lorenz?n_trials=60&n_neurons=12&n_bins=32"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A tiny model, 20 synthetic trials (HDF5 and Zarr) and the HDF5 file's evaluate report."""
    d = tmp_path_factory.mktemp("share")
    run("fit", SRC, "-o", d / "m", "--epochs-ae", 1, "--epochs-diffusion", 1, "--epochs-history", 1, *tiny_args())
    for name in ("s.nwb", "s.nwb.zarr"):
        run("generate", "--model", d / "m", "-o", d / name, "--n-trials", 20, "-q")
    args = ["--real", SRC, "--synthetic", d / "s.nwb", "--model", d / "m", "--resamples", 2, "-q"]
    run("evaluate", *args, "-o", d / "report")
    return d


def _validate(folder: Path) -> subprocess.CompletedProcess:
    dandi = str(Path(sys.executable).parent / "dandi")
    env = {**os.environ, "DANDI_NO_ET": "1"}
    return subprocess.run([dandi, "validate", str(folder)], capture_output=True, text=True, env=env, timeout=300)


def test_share_prepares_a_folder_dandi_validate_accepts(evaluated, tmp_path):
    d = evaluated
    out = tmp_path / "000999"
    p = run("share", d / "s.nwb", "--report", d / "report", "-o", out, "--dandiset-id", "000999")
    assert "No errors found" in p.stdout and "dandi upload" in p.stdout
    placed = sorted(out.glob("sub-*/*.nwb"))
    assert len(placed) == 1 and placed[0].stat().st_size == (d / "s.nwb").stat().st_size  # a copy
    assert (d / "s.nwb").exists()  # the original stays
    v = _validate(out)  # checked again here, by the dandi client itself
    assert v.returncode == 0 and "No errors found" in v.stdout + v.stderr
    meta = yaml.safe_load((out / "dandiset.yaml").read_text())
    assert meta["identifier"] == "DANDI:000999" and SRC in meta["description"] and "license" not in meta
    assert "license" in (out / "dandiset.yaml").read_text()  # ... but named in the draft's comments
    card = (out / "nwb-ldns-datacard.md").read_text()
    metrics = json.loads((d / "report" / "metrics.json").read_text())
    assert placed[0].relative_to(out).as_posix() in card and SRC in card
    assert "Memorization audit" in card and "not flagged" in card
    assert f"{metrics['rmse_pairwise_correlation']['mean']:.4g}" in card and "\\|\\|" in card  # pipes escaped


def test_files_without_a_passing_audit_are_refused_unless_forced(evaluated, tmp_path):
    d = evaluated
    p = run("share", d / "s.nwb", "-o", tmp_path / "a", ok=False)
    assert "nwb-ldns evaluate" in error_line(p) and "--report" in error_line(p) and "--force" in error_line(p)
    assert not (tmp_path / "a").exists()
    flagged = tmp_path / "flagged-report"
    shutil.copytree(d / "report", flagged)
    m = json.loads((flagged / "metrics.json").read_text())
    m["memorization"].update(flagged=True, close_fraction=0.8, exact_copies=12)  # as a copying model's report reads
    (flagged / "metrics.json").write_text(json.dumps(m))
    p = run("share", d / "s.nwb", "--report", flagged, "-o", tmp_path / "b", ok=False)
    assert "flags" in error_line(p) and "80%" in error_line(p) and not (tmp_path / "b").exists()
    p = run("share", d / "s.nwb", "--report", flagged, "-o", tmp_path / "b", "--force")
    assert "shared because of --force" in p.stderr
    assert "**flagged**" in (tmp_path / "b" / "nwb-ldns-datacard.md").read_text()


def test_share_refuses_what_it_cannot_share_and_replaces_only_its_own_folders(evaluated, tmp_path):
    d = evaluated
    base = ["--report", d / "report"]
    assert "NWB-Zarr" in error_line(run("share", d / "s.nwb.zarr", *base, "-o", tmp_path / "z", ok=False))
    rec = tmp_path / "rec.nwb"
    run("simulate", "lorenz", "-o", rec, "--n-trials", 5, "--n-neurons", 4, "--n-bins", 8)
    assert "not written by nwb-ldns generate" in error_line(run("share", rec, "-o", tmp_path / "r", ok=False))
    bad_id = run("share", d / "s.nwb", *base, "-o", tmp_path / "i", "--dandiset-id", "128", ok=False)
    assert "--dandiset-id" in error_line(bad_id)
    out = tmp_path / "ds"
    run("share", d / "s.nwb", *base, "-o", out)
    assert "already exists" in error_line(run("share", d / "s.nwb", *base, "-o", out, ok=False))
    run("share", d / "s.nwb", *base, "-o", out, "--overwrite")  # its own folder: replaced
    (out / "notes.txt").write_text("mine")
    p = run("share", d / "s.nwb", *base, "-o", out, "--overwrite", ok=False)
    assert "notes.txt" in error_line(p) and (out / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "dandiset.yaml").write_text("identifier: DANDI:000001\n")
    p = run("share", d / "s.nwb", *base, "-o", foreign, "--overwrite", ok=False)
    assert "not written by nwb-ldns" in error_line(p) and (foreign / "dandiset.yaml").exists()
