import os

import nwb_fixtures
import pytest

os.environ.setdefault("DANDI_NO_ET", "1")


@pytest.fixture(params=["hdf5", "zarr"])
def backend(request):
    return request.param


def _suffix(backend):
    return ".nwb" if backend == "hdf5" else ".nwb.zarr"


@pytest.fixture
def maze_file(tmp_path, backend):
    """(path, truth) of an MC_Maze-layout file in HDF5 and in Zarr."""
    nwb, truth = nwb_fixtures.maze_layout()
    return nwb_fixtures.write(nwb, tmp_path / f"maze{_suffix(backend)}"), truth


@pytest.fixture(scope="session")
def maze_h5(tmp_path_factory):
    nwb, truth = nwb_fixtures.maze_layout()
    return nwb_fixtures.write(nwb, tmp_path_factory.mktemp("maze") / "maze.nwb"), truth


@pytest.fixture
def epochs_file(tmp_path, backend):
    return nwb_fixtures.write(nwb_fixtures.epochs_only(), tmp_path / f"epochs{_suffix(backend)}")
