"""Read a sub-volume of a compressed stack: only the chunks it touches are decompressed.

Run:  python examples/read_subvolume.py [FILE.h5 [DATASET]]
Without arguments it first writes a small compressed stack (simulated data) to read from.
"""
import sys
import time

import h5py
import numpy as np

import sqeazy_filter  # registers the filter with h5py


def make_example(path="subvolume_example.h5"):
    rng = np.random.default_rng(1)
    stack = (rng.poisson(20, (64, 512, 512)) + 100).astype(np.uint16)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=stack, chunks=(16, 128, 128),
                         **sqeazy_filter.Sqeazy("bitshuffle->zstd(level=3)"))
    return path, "data", stack


def read(path, dataset, z=(10, 30), y=(100, 228), x=(300, 400)):
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        t0 = time.perf_counter()
        sub = ds[z[0]:z[1], y[0]:y[1], x[0]:x[1]]  # numpy slicing; h5py reads the needed chunks
        dt = time.perf_counter() - t0
        touched = np.prod([len(range(a // c, (b - 1) // c + 1)) for (a, b), c in zip((z, y, x), ds.chunks)])
        total = np.prod([-(-s // c) for s, c in zip(ds.shape, ds.chunks)])
        print(f"{path}:{dataset} {ds.shape} -> sub-volume {sub.shape} {sub.dtype}, mean {sub.mean():.1f}; "
              f"{touched} of {total} chunks decoded in {dt * 1e3:.1f} ms")
    return sub


if __name__ == "__main__":
    if len(sys.argv) > 1:
        read(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "data")
    else:
        path, name, stack = make_example()
        sub = read(path, name)
        assert np.array_equal(sub, stack[10:30, 100:228, 300:400])
