"""Throughput of `sqeazy convert` against the number of Dask workers on a LocalCluster.

A time-lapse of --timepoints TIFF stacks (one per time point, the real stack --stack from the
shared data folder, each time point shifted by a few pixels so no two are the same) is written
to a temporary folder, then converted to BigDataViewer partitioned HDF5 with
- "in-process": every partition in turn in this process, no Dask (scheduler="in-process"; the peer
  that shows Dask's overhead);
- "dask N": a LocalCluster of N worker processes x 1 thread, for each N in --workers.
Runs are interleaved (in-process, 1, 2, ..., in-process, 1, 2, ...) after a warm-up; each run
rewrites every partition (force); medians of --repeats. Cluster start-up is not timed. The
rate counts level-0 source bytes per second of wall time, including reading the TIFFs (from
the page cache), the pyramid, compression, writing, read-back verification and the rename.

    python3 bench/bench_dask.py [--timepoints 12] [--workers 1,2] [--repeats 3] [--levels N]
"""
import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, machine, table  # noqa: E402

import numpy as np  # noqa: E402


def make_timelapse(folder, stack, n):
    import tifffile
    a = tifffile.imread(DATA / f"{stack}.tif")
    if a.ndim != 3:
        raise SystemExit(f"{stack}: expected a 3-D stack, got {a.shape}")
    for t in range(n):
        tifffile.imwrite(folder / f"t{t:04d}.tif", np.roll(a, (3 * t, 2 * t), axis=(1, 2)), imagej=True,
                         metadata={"axes": "ZYX"})
    return str(folder / "t{t}.tif"), a.shape, a.dtype, a.nbytes * n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stack", default="tribolium_lightsheet", help="stack in the data folder (default tribolium)")
    ap.add_argument("--timepoints", type=int, default=12)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pipeline", default="bitshuffle->lz4")
    ap.add_argument("--levels", type=int, default=None, help="pyramid levels (default: automatic)")
    ap.add_argument("--dask-malloc", action="store_true",
                    help="keep Dask's worker MALLOC_TRIM_THRESHOLD_=65536 (default: convert.WORKER_MALLOC_ENV)")
    ap.add_argument("--tmp", default=None, help="folder for the temporary time-lapse (default: system temp)")
    args = ap.parse_args()

    import distributed
    from sqeazy_filter import convert
    logging.getLogger("distributed").setLevel(logging.ERROR)

    counts = [int(w) for w in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench_dask_", dir=args.tmp))
    clusters = {}
    try:
        pattern, shape, dtype, raw = make_timelapse(tmp, args.stack, args.timepoints)
        options = {"pipeline": args.pipeline, "levels": args.levels, "threads": 1}
        for n in counts:
            cluster = convert.local_cluster(n) if not args.dask_malloc else distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
            clusters[n] = (cluster, distributed.Client(cluster))
        schedulers = {"in-process": "in-process", **{f"dask {n}": clusters[n][1] for n in counts}}
        cases = {name: (lambda sched: lambda out: convert.convert_timelapse(
            pattern, out, scheduler=sched, force=True, **options))(sched) for name, sched in schedulers.items()}
        times = {name: [] for name in cases}
        stored = {}
        for rep in range(args.repeats + 1):
            for name, fn in cases.items():
                out = tmp / f"out-{name.replace(' ', '')}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                t0 = time.perf_counter()
                summary = fn(out / "exp.xml")
                dt = time.perf_counter() - t0
                if summary["written"] != args.timepoints:
                    raise SystemExit(f"{name}: wrote {summary['written']} partitions, expected {args.timepoints}")
                stored[name] = summary["stored_bytes"]
                if rep:  # the first round is the warm-up
                    times[name].append(dt)
        rows = []
        base = None
        for name in cases:
            med = statistics.median(times[name])
            workers = 1 if name == "in-process" else int(name.split()[1])
            rate = raw / 1e6 / med
            base = base or rate
            rows.append({"run": name, "workers": workers, "median s": med, "MB/s": rate,
                         "MB/s per worker": rate / workers, "speed-up": rate / base,
                         "ratio (all levels)": raw / stored[name]})
        print(f"# sqeazy convert on Dask: {args.timepoints} time points of {args.stack} {shape} {dtype}, "
              f"{raw / 1e6:.0f} MB, pipeline {args.pipeline}, levels {args.levels or 'auto'}, "
              f"medians of {args.repeats}, worker malloc: {'Dask default' if args.dask_malloc else 'WORKER_MALLOC_ENV'}")
        print(f"# {machine()}")
        print(table(rows, ["run", "workers", "median s", "MB/s", "MB/s per worker", "speed-up",
                           "ratio (all levels)"]))
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
