"""A/B of library builds: CPU time of sqz_encode / sqz_decode on one thread, prefaulted output,
best of 9 per round, rounds alternating between the builds (each round a fresh process per build,
chosen with $SQEAZY_LIBRARY). Prints ratio and the best MB/s in and out of each build per stack.
    python3 bench/ab_libs.py OLD.so,NEW.so lls_rbc_raw.tif,nuclei_confocal.tif [--pipeline P] [--rounds 3]
(data: $SQEAZY_TEST_DATA or ../shared/data)"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from common import DATA, machine, table

ROOT = Path(__file__).resolve().parent.parent
CHILD = r'''
import json, sys, time
import numpy as np, tifffile
import sqeazy_filter as sf
from sqeazy_filter import _lib
ffi, lib = _lib.ffi, _lib.load()
data, pipeline, names = sys.argv[1], sys.argv[2] or None, sys.argv[3].split(",")
out = {}
text = ffi.new("char[]", (pipeline or sf.DEFAULT_PIPELINE).encode())
opts = ffi.new("sqz_options *", {"pipeline": text, "threads": 1, "block_bytes": 0})
for name in names:
    a = tifffile.imread(f"{data}/{name}")
    code, shape = sf.codec.code_of(a.dtype), ffi.new("uint64_t[]", list(a.shape))
    enc_out = np.ones(lib.sqz_encode_bound(a.nbytes, code, a.ndim, text), np.uint8)  # the C API of every build
    def enc():
        n = lib.sqz_encode(ffi.from_buffer(a), a.nbytes, code, a.ndim, shape, opts, ffi.from_buffer(enc_out), enc_out.nbytes)
        if n < 0:
            raise RuntimeError("encode failed")
        return n
    c = enc_out[:enc()].tobytes()
    dst = np.zeros_like(a)
    cbuf, dbuf = ffi.from_buffer(c), ffi.from_buffer(dst)
    def dec():
        if lib.sqz_decode(cbuf, len(c), dbuf, dst.nbytes, 1) != dst.nbytes:
            raise RuntimeError("decode failed")
    dec()
    if not np.array_equal(dst, a) and not (pipeline and "wnl" in pipeline):
        raise RuntimeError(f"{name}: round trip differs")
    def best(f, reps=9):
        ts = []
        for _ in range(reps):
            t = time.thread_time(); f(); ts.append(time.thread_time() - t)
        return min(ts)
    mb = a.nbytes / 1e6
    out[name] = (a.nbytes / len(c), mb / best(enc), mb / best(dec))
print(json.dumps(out))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("libs", help="comma-separated shared libraries")
    ap.add_argument("stacks", help="comma-separated file names in the data folder")
    ap.add_argument("--pipeline", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    libs, names = args.libs.split(","), args.stacks.split(",")
    for lib in libs:
        if not os.path.isfile(lib):
            sys.exit(f"no library {lib}")
    res = {lib: {n: [] for n in names} for lib in libs}
    for _ in range(args.rounds):
        for lib in libs:
            env = dict(os.environ, SQEAZY_LIBRARY=lib, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
            run = subprocess.run([sys.executable, "-c", CHILD, args.data, args.pipeline, ",".join(names)],
                                 env=env, capture_output=True, text=True)
            if run.returncode:
                sys.exit(f"{lib}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else 'failed'}")
            for n, v in json.loads(run.stdout).items():
                res[lib][n].append(v)
    rows = [{"stack": n, "library": os.path.basename(lib), "ratio": f"{res[lib][n][0][0]:.4f}",
             "MB/s in": max(x[1] for x in res[lib][n]), "MB/s out": max(x[2] for x in res[lib][n])}
            for n in names for lib in libs]
    print(f"Machine: {machine()}; best of 9 per round, {args.rounds} rounds\n")
    print(table(rows, ["stack", "library", "ratio", "MB/s in", "MB/s out"]))

if __name__ == "__main__":
    main()
