"""si: sources: a SpikeInterface sorting saved to a folder, read through SpikeInterface's own loader."""

import numpy as np
import pytest

from nwb_ldns import NwbLdnsError, open_source
from nwb_ldns.config import DataSpec
from nwb_ldns.dataset import load_dataset


@pytest.fixture(scope="module")
def sorting_folder(tmp_path_factory):
    import spikeinterface.core as sc

    sorting = sc.generate_sorting(num_units=5, durations=[20.0], sampling_frequency=30000.0, firing_rates=15.0, seed=0)
    folder = tmp_path_factory.mktemp("si") / "sorting"
    sorting.save(folder=folder)
    return folder, sorting


def test_saved_sorting_folder(sorting_folder):
    folder, sorting = sorting_folder
    with open_source(f"si:{folder}") as rec:
        assert list(rec.unit_ids) == list(sorting.get_unit_ids())
        uid = sorting.get_unit_ids()[2]
        np.testing.assert_allclose(rec.spike_times(2), sorting.get_unit_spike_train(uid) / 30000.0)
        np.testing.assert_array_equal(rec.spike_counts(), [len(sorting.get_unit_spike_train(u)) for u in sorting.get_unit_ids()])
        assert rec.trials is None
        assert rec.provenance["content_hash"].startswith("sha256:")
    ds = load_dataset(f"si:{folder}", DataSpec(segment_ms=1000))
    assert ds.n_bins == 200 and 18 <= ds.n_trials <= 20 and ds.n_units == 5


def test_not_a_sorting(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(NwbLdnsError, match="SpikeInterface cannot load"):
        open_source(f"si:{tmp_path / 'junk'}")
    with pytest.raises(NwbLdnsError, match="no such sorting"):
        open_source(f"si:{tmp_path / 'nothing'}")
