"""Shared benchmark helpers: data loading, machine description, interleaved timing, tables."""
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before numpy: an idle BLAS pool spins and steals a core from the codecs

import numpy as np  # noqa: E402

DATA = Path(os.environ.get("SQEAZY_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def single_thread_environment():
    """Pin every codec to one thread; call before importing codec libraries."""
    for var in ("SQEAZY_NUM_THREADS", "BLOSC_NTHREADS", "OMP_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = "1"


def machine():
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
            f"load {load:.2f}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def stacks(names=None):
    """(name, array) for the TIFF stacks in the shared data folder."""
    import tifffile
    if not DATA.exists():
        raise SystemExit(f"no data folder {DATA} (set SQEAZY_TEST_DATA)")
    for path in sorted(DATA.glob("*.tif")):
        if names and path.stem not in names and path.name not in names:
            continue
        yield path.stem, np.ascontiguousarray(tifffile.imread(path))


def best(fn, repeat=7, clock=time.perf_counter):
    """The shortest of `repeat` timings of fn() on `clock` (time.thread_time: CPU time)."""
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


def interleaved(cases, repeats=5, warmup=1):
    """cases: {name: fn() -> None}. Runs all in turn, `repeats` times after warm-up; medians (s)."""
    times = {name: [] for name in cases}
    for rep in range(warmup + repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if rep >= warmup:
                times[name].append(dt)
    return {name: statistics.median(v) for name, v in times.items()}


def table(rows, columns):
    """Markdown table from a list of dicts."""
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(columns))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(_fmt(r[c]) for c in columns) + " |")
    return "\n".join(out)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)
