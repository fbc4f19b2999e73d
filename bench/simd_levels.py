"""Pipelines at each SIMD level in one process: CPU time of encode / decode on one thread, best of 7,
MB/s in and out (the level set with sqz_simd_set, as SQEAZY_SIMD caps it).
    python3 bench/simd_levels.py [--levels 0,2,3] [--pipelines lossless,lossless64] [stacks ...]
(data: $SQEAZY_TEST_DATA or ../shared/data)"""
import argparse
import time

import numpy as np

import sqeazy_filter as sf
from sqeazy_filter import _lib

from common import best, machine, stacks, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stacks", nargs="*")
    ap.add_argument("--levels", default="0,2,3")
    ap.add_argument("--pipelines", default="lossless,lossless64")
    args = ap.parse_args()
    lib = _lib.load()
    print(machine())
    rows = []
    for name, a in stacks(args.stacks):
        for level in (int(v) for v in args.levels.split(",")):
            got = lib.sqz_simd_set(level)
            for pipeline in args.pipelines.split(","):
                c = sf.encode(a, pipeline, threads=1)
                if not np.array_equal(sf.decode(c, threads=1), a):
                    raise RuntimeError(f"{name} {pipeline} level {got}: round trip differs")
                mb = a.nbytes / 1e6
                rows.append({"stack": name, "level": got, "pipeline": pipeline, "ratio": round(a.nbytes / len(c), 4),
                             "MB/s in": round(mb / best(lambda: sf.encode(a, pipeline, threads=1), clock=time.thread_time)),
                             "MB/s out": round(mb / best(lambda: sf.decode(c, threads=1), clock=time.thread_time))})
    print(table(rows, ("stack", "level", "pipeline", "ratio", "MB/s in", "MB/s out")))


if __name__ == "__main__":
    main()
