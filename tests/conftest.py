import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sqeazy_filter

DATA = Path(os.environ.get("SQEAZY_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def plugin_env():
    """Environment for HDF5 command-line tools that load our plugin."""
    env = dict(os.environ)
    env["HDF5_PLUGIN_PATH"] = sqeazy_filter.plugin_path()
    return env


def need_tool(name):
    if shutil.which(name) is None:
        pytest.skip(f"{name} not installed (Debian: hdf5-tools)")


def run_tool(args, env, check=True):
    return subprocess.run(args, env=env, capture_output=True, text=True, check=check, timeout=300)


def data_file(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available (set SQEAZY_TEST_DATA)")
    return path


def camera_stack(shape, dtype=np.uint16, offset=100, seed=0):
    """A simulated sCMOS stack: Poisson photons on a blurred blob field plus offset and read noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    signal = 5 + 200 * np.exp(-(((y - shape[1] / 2) ** 2 + (x - shape[2] / 3) ** 2) / (0.1 * shape[1] * shape[2] + 1)))
    signal = np.broadcast_to(signal * (1 + 0.1 * np.sin(z / 3.0)), shape)
    counts = rng.poisson(signal) * 2.5 + offset + rng.normal(0, 2, shape)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        counts = np.clip(counts, info.min, info.max)
    return counts.astype(dtype)


sys.path.insert(0, str(Path(__file__).parent))
