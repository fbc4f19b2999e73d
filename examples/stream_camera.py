"""Stream planes from a (simulated) camera into a compressed HDF5 dataset as they arrive.

The dataset is resizable along z and chunked by CHUNK_Z planes: planes are buffered until a
chunk row is complete, then written, so every chunk is compressed exactly once and memory holds
at most one chunk row. Run:  python examples/stream_camera.py [OUT.h5] [--planes N]
"""
import argparse
import time

import h5py
import numpy as np

import sqeazy_filter


def camera(n_planes, height=256, width=320, offset=100, gain=2.5, seed=0):
    """A simulated sCMOS camera: drifting fluorescent blobs, Poisson noise, offset, read noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    centers = rng.uniform(0, 1, (12, 2)) * (height, width)
    for z in range(n_planes):
        signal = np.full((height, width), 3.0)
        for cy, cx in centers + z * np.array([0.4, 0.7]):
            signal += 150 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 60.0)
        frame = rng.poisson(signal) * gain + offset + rng.normal(0, 1.5, signal.shape)
        yield np.clip(frame, 0, 65535).astype(np.uint16)


def stream(path, planes, chunk_z=16, pipeline=sqeazy_filter.DEFAULT_PIPELINE):
    frames = camera(planes)
    first = next(frames)
    height, width = first.shape
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", shape=(0, height, width), maxshape=(None, height, width), dtype=np.uint16,
                              chunks=(chunk_z, height, width), **sqeazy_filter.Sqeazy(pipeline))
        buffer = [first]

        def flush():
            z0 = ds.shape[0]
            ds.resize(z0 + len(buffer), axis=0)
            ds[z0:] = np.stack(buffer)
            buffer.clear()

        for frame in frames:  # in a real acquisition: the camera's frame callback
            buffer.append(frame)
            if len(buffer) == chunk_z:
                flush()
        if buffer:
            flush()
        n, stored = ds.shape[0], ds.id.get_storage_size()
    seconds = time.perf_counter() - t0
    raw = n * height * width * 2
    print(f"{path}: {n} planes {height}x{width} uint16, {raw / 1e6:.1f} MB -> {stored / 1e6:.1f} MB "
          f"(ratio {raw / stored:.2f}), {n / seconds:.0f} planes/s including the simulation")
    return n


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", nargs="?", default="stream.h5")
    p.add_argument("--planes", type=int, default=100)
    p.add_argument("--chunk-z", type=int, default=16)
    p.add_argument("--pipeline", default=sqeazy_filter.DEFAULT_PIPELINE)
    a = p.parse_args()
    stream(a.output, a.planes, a.chunk_z, a.pipeline)
