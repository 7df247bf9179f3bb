"""dandi: sources through the real dandi client, remfile streaming and the cache, on a loopback server."""

import json
import socket
import subprocess
import sys
import time

import numpy as np
import nwb_fixtures
import pytest
from dandi_server import FakeDandi

from nwb_ldns import NwbLdnsError, open_source
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import build_dataset, load_dataset

TRAIN = "sub-Jenkins/sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb"
TEST = "sub-Jenkins/sub-Jenkins_ses-full_desc-test_ecephys.nwb"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dandi")
    train = nwb_fixtures.write(nwb_fixtures.maze_layout(n_trials=24, n_units=10)[0], root / "train.nwb")
    test = nwb_fixtures.write(nwb_fixtures.maze_layout(n_trials=6, n_units=7, seed=2)[0], root / "test.nwb")
    other = nwb_fixtures.write(nwb_fixtures.epochs_only(), root / "other.nwb")
    readme = root / "README.md"
    readme.write_text("not NWB")
    fake = FakeDandi()
    fake.add("000128", {TRAIN: train, TEST: test})
    fake.add("000200", {"sub-1/sub-1_ses-1.nwb": train, "dataset.json": str(readme)})
    fake.add("000300", {"sub-1/a.nwb": train, "sub-2/b.nwb": train})
    fake.add("000400", {"README.md": str(readme)})
    fake.add("000500", {"sub-1/x.nwb": other, "sub-2/y.nwb": other})
    fake.start()
    yield fake, train
    fake.stop()


def test_streams_the_asset_and_records_provenance(server):
    fake, train = server
    with open_source("dandi:000200", dandi_api_url=fake.api_url) as rec:
        assert len(rec.unit_ids) == 10
        prov = rec.provenance
        ds = build_dataset(rec, DataSpec(align="move_onset_time", window_ms=(-250, 450), behavior=("hand_vel",)))
    assert prov["dandiset"] == "000200" and prov["version"] == "0.240101.0000"
    assert prov["asset_path"] == "sub-1/sub-1_ses-1.nwb" and prov["content_hash"].startswith("dandi-etag:")
    local = load_dataset(train, DataSpec(align="move_onset_time", window_ms=(-250, 450), behavior=("hand_vel",)))
    np.testing.assert_array_equal(ds.counts, local.counts)
    np.testing.assert_array_equal(ds.behavior("hand_vel"), local.behavior("hand_vel"))


def test_path_version_and_case(server):
    fake, _ = server
    with open_source(f"DANDI:000128/{TEST}@draft", dandi_api_url=fake.api_url) as rec:
        assert len(rec.unit_ids) == 7 and rec.provenance["version"] == "draft"


def test_picks_the_file_with_most_units_and_trials(server):
    fake, _ = server
    with open_source("dandi:000128", dandi_api_url=fake.api_url) as rec:
        assert rec.provenance["asset_path"] == TRAIN


@pytest.mark.parametrize(
    "uri,message",
    [
        ("dandi:000300", "holds 2 NWB files and several have units and trials; name one: dandi:000300/sub-1/a.nwb"),
        ("dandi:000500", "none has both units and trials"),
        ("dandi:000400", "has no NWB"),
        ("dandi:000999", "No such Dandiset"),
        ("dandi:000128/sub-X/missing.nwb", "No asset at path"),
        ("dandi:12", "expected dandi:DANDISET"),
    ],
)
def test_resolution_errors(server, uri, message):
    fake, _ = server
    with pytest.raises(NwbLdnsError, match=message):
        open_source(uri, dandi_api_url=fake.api_url)


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def test_unreachable_dandi_fails_fast():
    t0 = time.monotonic()
    with pytest.raises(NwbLdnsError, match="cannot reach DANDI.*`cache_dir`.*local .nwb path"):
        open_source("dandi:000128", dandi_api_url=_closed_port_url())
    assert time.monotonic() - t0 < 5


def test_cache_makes_second_run_local_and_offline(server, tmp_path):
    fake, _ = server
    cache = tmp_path / "cache"
    uri = "dandi:000200"
    with open_source(uri, dandi_api_url=fake.api_url, cache_dir=cache, quiet=True) as rec:
        first = build_dataset(rec).counts
    blobs = fake.requests["blob"]
    with open_source(uri, dandi_api_url=fake.api_url, cache_dir=cache) as rec:
        assert rec.provenance["cached_copy"].startswith(str(cache))
        np.testing.assert_array_equal(build_dataset(rec).counts, first)
    assert fake.requests["blob"] == blobs  # no file bytes fetched again


def test_cache_serves_when_dandi_is_unreachable(server, tmp_path, caplog):
    _, train = server
    own = FakeDandi()
    own.add("000200", {"sub-1/sub-1_ses-1.nwb": train})
    own.start()
    cache = tmp_path / "cache"
    with open_source("dandi:000200", dandi_api_url=own.api_url, cache_dir=cache, quiet=True) as rec:
        first = build_dataset(rec).counts
    own.stop()
    with open_source("dandi:000200", dandi_api_url=own.api_url, cache_dir=cache) as rec:
        assert rec.provenance["dandiset"] == "000200"
        np.testing.assert_array_equal(build_dataset(rec).counts, first)
    assert "unreachable" in caplog.text


def test_cli_inspect_over_dandi(server, tmp_path):
    fake, _ = server
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nwb_ldns_cli.main",
            "inspect",
            f"dandi:000128/{TRAIN}",
            "--json",
            "--dandi-api-url",
            fake.api_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["n_units"] == 10 and summary["n_trials"] == 24 and summary["behavior"] == ["hand_vel"]
    assert summary["source"]["dandiset"] == "000128"
    bad = subprocess.run(
        [sys.executable, "-m", "nwb_ldns_cli.main", "inspect", "dandi:000128", "--dandi-api-url", _closed_port_url()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("Error: cannot reach DANDI")
    assert len(bad.stderr.strip().splitlines()) == 1
