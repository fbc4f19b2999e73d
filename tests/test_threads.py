"""Thread safety: many Python threads encoding and decoding at once (cffi releases the GIL
around the C calls), concurrent h5py reads of one file, and the parallel chunk writer.
Every result is compared with one computed alone, so a race shows up as different bytes."""
import threading
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest

import sqeazy_filter

import hardening_util as hu

N_THREADS = 8


def _cases():
    """(pipeline, array, block_size) for every registered pipeline that accepts the data."""
    out = []
    arrays = [hu.synthetic("uint16", (4, 48, 40), 11), hu.synthetic("float32", (3, 30, 20), 12),
              hu.synthetic("uint8", (5000,), 13)]
    for i, pipeline in enumerate(hu.all_pipelines()):
        for j, a in enumerate(arrays):
            if hu.try_encode(a, pipeline, threads=1) is not None:
                out.append((pipeline, a, [0, 1024, 4096][(i + j) % 3]))
    return out


def test_concurrent_encode_decode_is_deterministic():
    cases = _cases()
    assert len(cases) >= len(hu.all_pipelines())
    expected = [sqeazy_filter.encode(a, p, threads=1, block_size=b) for p, a, b in cases]
    decoded = [sqeazy_filter.decode(c, threads=1).tobytes() for c in expected]
    barrier = threading.Barrier(N_THREADS)

    def work(worker):
        barrier.wait()
        bad = []
        for k in range(len(cases)):
            i = (k + worker * 7) % len(cases)  # threads run different pipelines at the same moment
            p, a, b = cases[i]
            c = sqeazy_filter.encode(a, p, threads=1 + worker % 3, block_size=b)
            if c != expected[i]:
                bad.append(f"encode {p} differs in thread {worker}")
            if sqeazy_filter.decode(c, threads=1 + (worker + 1) % 3).tobytes() != decoded[i]:
                bad.append(f"decode {p} differs in thread {worker}")
        return bad

    with ThreadPoolExecutor(N_THREADS) as pool:
        problems = [m for r in pool.map(work, range(N_THREADS)) for m in r]
    assert not problems, problems[:10]


def test_concurrent_errors_keep_their_own_message():
    """The last-error message is per thread: a failing decode in one thread does not leak its
    message into another thread's failure."""
    good = sqeazy_filter.encode(hu.synthetic("uint16", (64, 64), 3), threads=1)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x10
    bad = bytes(bad)

    def work(worker):
        msgs = set()
        for _ in range(50):
            if worker % 2:
                try:
                    sqeazy_filter.decode(bad)
                except sqeazy_filter.SqeazyError as exc:
                    msgs.add("checksum" in str(exc))
            else:
                try:
                    sqeazy_filter.decode(b"SQZC" + b"\0" * 3)
                except sqeazy_filter.SqeazyError as exc:
                    msgs.add("checksum" in str(exc))
        return worker, msgs

    with ThreadPoolExecutor(N_THREADS) as pool:
        for worker, msgs in pool.map(work, range(N_THREADS)):
            assert msgs == ({True} if worker % 2 else {False}), (worker, msgs)


@pytest.fixture(scope="module")
def h5file(tmp_path_factory):
    path = tmp_path_factory.mktemp("threads") / "stack.h5"
    data = {}
    with h5py.File(path, "w") as f:
        for i, pipeline in enumerate(hu.all_pipelines()):
            a = hu.synthetic("uint16", (6, 64, 48), 20 + i)
            try:
                f.create_dataset(f"d{i}", data=a, chunks=(1, 32, 48), **sqeazy_filter.Sqeazy(pipeline))
            except (ValueError, OSError):
                continue
            data[f"d{i}"] = f[f"d{i}"][...]
    return path, data


def test_concurrent_h5py_reads(h5file):
    path, data = h5file
    names = sorted(data)

    def work(worker):
        bad = []
        with h5py.File(path, "r") as f:  # one handle per thread, and the shared one below
            for k in range(3 * len(names)):
                n = names[(k + worker) % len(names)]
                z = (k + worker) % 6
                if not np.array_equal(f[n][z], data[n][z]):
                    bad.append(f"{n}[{z}] in thread {worker}")
        return bad

    with ThreadPoolExecutor(N_THREADS) as pool:
        problems = [m for r in pool.map(work, range(N_THREADS)) for m in r]
    assert not problems, problems[:10]

    with h5py.File(path, "r") as shared:
        def read(n):
            return n, shared[n][...]
        with ThreadPoolExecutor(N_THREADS) as pool:
            for n, got in pool.map(read, names * 2):
                np.testing.assert_array_equal(got, data[n])


def test_parallel_writer(tmp_path):
    write_chunks = getattr(sqeazy_filter, "write_chunks", None)
    if write_chunks is None:
        pytest.skip("sqeazy_filter.write_chunks (the parallel chunk writer) is not in this build yet")
    a = hu.synthetic("uint16", (8, 96, 80), 31)
    for pipeline in hu.all_pipelines():
        if hu.try_encode(a[:1], pipeline) is None:
            continue
        files = []
        for threads in (1, 4):
            path = tmp_path / f"w{threads}.h5"
            with h5py.File(path, "w") as f:
                ds = f.create_dataset("d", shape=a.shape, dtype=a.dtype, chunks=(2, 48, 40),
                                      **sqeazy_filter.Sqeazy(pipeline))
                write_chunks(ds, a, threads=threads)
            with h5py.File(path, "r") as f:
                ds = f["d"]
                if not hu.is_lossy(pipeline):
                    np.testing.assert_array_equal(ds[...], a)
                chunks = {ds.id.get_chunk_info(i).chunk_offset: ds.id.read_direct_chunk(ds.id.get_chunk_info(i).chunk_offset)[1]
                          for i in range(ds.id.get_num_chunks())}
            files.append(chunks)
        assert files[0] == files[1], f"{pipeline}: chunks written with 1 and 4 threads differ"
        # and they are what the HDF5 filter itself writes
        with h5py.File(tmp_path / "filter.h5", "w") as f:
            ds = f.create_dataset("d", data=a, chunks=(2, 48, 40), **sqeazy_filter.Sqeazy(pipeline))
            for off, stored in files[0].items():
                assert ds.id.read_direct_chunk(off)[1] == stored, f"{pipeline}: writer and filter differ at {off}"
