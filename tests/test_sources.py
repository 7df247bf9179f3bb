"""The contract every registered reader keeps, checked on one small recording per scheme."""

import numpy as np
import nwb_fixtures
import pandas as pd
import pytest
from dandi_server import FakeDandi

from nwb_ldns.sources import Recording, open_source, source_schemes


@pytest.fixture(scope="module")
def uris(tmp_path_factory):
    """scheme -> (URI, reader options) of a small recording for every registered scheme."""
    import spikeinterface.core as sc

    root = tmp_path_factory.mktemp("sources")
    nwb = nwb_fixtures.write(nwb_fixtures.maze_layout(n_trials=12, n_units=6)[0], root / "maze.nwb")
    sorting = sc.generate_sorting(num_units=4, durations=[5.0], sampling_frequency=30000.0, seed=1)
    sorting.save(folder=root / "sorting")
    fake = FakeDandi()
    fake.add("000128", {"sub-1/sub-1_ses-1.nwb": nwb})
    fake.start()
    yield {
        "file": (f"file:{nwb}", {}),
        "dandi": ("dandi:000128", {"dandi_api_url": fake.api_url, "cache_dir": str(root / "cache")}),
        "si": (f"si:{root / 'sorting'}", {}),
        "sim": ("sim:lorenz?n_trials=6&n_neurons=5&n_bins=32", {}),
    }
    fake.stop()


def test_every_scheme_has_a_contract_case(uris):
    assert sorted(uris) == source_schemes()


@pytest.mark.parametrize("scheme", source_schemes())
def test_reader_contract(uris, scheme):
    uri, options = uris[scheme]
    with open_source(uri, **options) as rec:
        assert isinstance(rec, Recording)
        ids = np.asarray(rec.unit_ids)
        assert ids.ndim == 1 and ids.size > 0 and len(set(ids.tolist())) == ids.size
        counts = rec.spike_counts()
        assert counts.shape == ids.shape
        for i in range(ids.size):
            t = rec.spike_times(i)
            assert t.ndim == 1 and t.size == counts[i] and np.all(np.diff(t) >= 0) and np.isfinite(t).all()
        assert rec.duration_s() > 0
        for table in (rec.trials, *rec.interval_tables().values()):
            if table is not None:
                assert isinstance(table, pd.DataFrame) and {"start_time", "stop_time"} <= set(table.columns)
        for series in rec.behavior_series():
            assert rec.find_behavior(series.name) is not None
        prov = rec.provenance
        assert prov["source_uri"] and isinstance(rec.session_metadata(), dict)
        assert isinstance(rec.unit_columns(), pd.DataFrame) and len(rec.unit_columns()) == ids.size


def test_a_bare_path_reads_as_the_nwb_reader(uris):
    uri, _ = uris["file"]
    with open_source(uri.removeprefix("file:")) as bare, open_source(uri) as named:
        assert list(bare.unit_ids) == list(named.unit_ids)
        np.testing.assert_array_equal(bare.spike_times(0), named.spike_times(0))
