"""HDF5 filters through h5py, single thread: our pipelines against hdf5plugin's peers.

Every stack in ../shared/data is written to and read from an in-memory HDF5 file with each
filter, interleaved, after a warm-up; medians of --repeats. Prints ratio, write and read MB/s.

    python3 bench/bench_filters.py [--repeats 5] [--only lls_rbc_raw] [--chunks 4,32,32] [--markdown out.md]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import interleaved, machine, single_thread_environment, stacks, table  # noqa: E402

single_thread_environment()

import h5py  # noqa: E402
import hdf5plugin  # noqa: E402
import itertools  # noqa: E402

import numpy as np  # noqa: E402

import sqeazy_filter  # noqa: E402

_serial = itertools.count()
OURS = ["bitshuffle->lz4", "bitshuffle->zstd(level=3)", "lz4", "zstd(level=3)", "lossless", "lossless64", "lossless_fast"]


def filters():
    out = {}
    for p in OURS:
        try:
            out[f"sqeazy {p}"] = dict(sqeazy_filter.Sqeazy(p, threads=1))
        except ValueError:
            pass  # a pipeline this build does not have yet
    out.update({
        "hdf5plugin Bitshuffle(lz4)": dict(hdf5plugin.Bitshuffle(cname="lz4")),
        "hdf5plugin Bitshuffle(zstd 3)": dict(hdf5plugin.Bitshuffle(cname="zstd", clevel=3)),
        "hdf5plugin Zstd(3)": dict(hdf5plugin.Zstd(clevel=3)),
        "hdf5plugin Blosc2(lz4, bitshuffle)": dict(hdf5plugin.Blosc2(cname="lz4", clevel=5, filters=hdf5plugin.Blosc2.BITSHUFFLE)),
        "hdf5plugin Blosc2(zstd 3, bitshuffle)": dict(hdf5plugin.Blosc2(cname="zstd", clevel=3, filters=hdf5plugin.Blosc2.BITSHUFFLE)),
        "HDF5 gzip(4)+shuffle": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
    })
    return out


def chunk_shape(shape, itemsize, target=2 << 20):
    """Whole planes, as many as fit in ~2 MiB."""
    plane = int(np.prod(shape[1:])) * itemsize
    return (max(1, min(shape[0], target // max(plane, 1))),) + tuple(shape[1:])


def bench_stack(name, a, repeats, chunks=None):
    chunks = chunk_shape(a.shape, a.itemsize) if chunks is None else tuple(min(c, n) for c, n in zip(chunks, a.shape))
    files, cases_w, cases_r = {}, {}, {}
    out = np.empty_like(a)
    for label, kw in filters().items():
        def write(label=label, kw=kw):
            f = h5py.File(f"mem-{next(_serial)}.h5", "w", driver="core", backing_store=False)
            f.create_dataset("x", data=a, chunks=chunks, **kw)
            old = files.get(label, [])
            files[label] = [f]
            for g in old:
                g.close()

        def read(label=label):
            files[label][-1]["x"].read_direct(out)

        cases_w[label], cases_r[label] = write, read
    tw = interleaved(cases_w, repeats)
    tr = interleaved(cases_r, repeats)
    rows = []
    mb = a.nbytes / 1e6
    for label in cases_w:
        d = files[label][-1]["x"]
        d.read_direct(out)
        assert np.array_equal(out, a), f"{label} did not round-trip {name}"
        stored = d.id.get_storage_size()
        rows.append({"dataset": name, "filter": label, "ratio": a.nbytes / stored,
                     "write MB/s": mb / tw[label], "read MB/s": mb / tr[label]})
        files[label][-1].close()
    return rows, chunks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--markdown", help="also write the tables to this file")
    ap.add_argument("--chunks", help="chunk shape, e.g. 4,32,32 (BigDataViewer's); default: whole planes, ~2 MiB")
    args = ap.parse_args(argv)
    head = [f"# HDF5 filters through h5py, single thread", "", f"Machine: {machine()}",
            f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), hdf5plugin {hdf5plugin.version}, "
            f"sqeazy_filter {sqeazy_filter.__version__} ({sqeazy_filter.config()['simd_in_use']}); "
            f"medians of {args.repeats} interleaved repetitions after a warm-up; in-memory files.", ""]
    print("\n".join(head), flush=True)
    parts = head[:]
    for name, a in stacks(args.only):
        want = tuple(int(v) for v in args.chunks.split(",")) if args.chunks else None
        if want is not None and len(want) != a.ndim:
            continue
        rows, chunks = bench_stack(name, a, args.repeats, want)
        text = f"## {name} {a.shape} {a.dtype}, chunks {chunks}\n\n" + table(rows, ["filter", "ratio", "write MB/s", "read MB/s"]) + "\n"
        print(text, flush=True)
        parts.append(text)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(parts))


if __name__ == "__main__":
    main()
