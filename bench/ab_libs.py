"""A/B of library builds: CPU time of sqz_encode / sqz_decode on one thread, prefaulted output,
best of 9 per round, rounds alternating between the builds (each round a fresh process per build,
chosen with $SQEAZY_LIBRARY). Prints ratio and the best MB/s in and out of each build per stack.
--tile Z,Y,X codes up to 400 chunks of that shape cut from each stack instead of the whole stack
(BigDataViewer's 4,32,32: the costs per chunk and per block).
    python3 bench/ab_libs.py OLD.so,NEW.so lls_rbc_raw.tif,nuclei_confocal.tif [--pipeline P] [--rounds 3] [--tile 4,32,32]
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
tile = tuple(int(v) for v in sys.argv[4].split(",")) if sys.argv[4] else None
out = {}
text = ffi.new("char[]", (pipeline or sf.DEFAULT_PIPELINE).encode())
opts = ffi.new("sqz_options *", {"pipeline": text, "threads": 1, "block_bytes": 0})
for name in names:
    a = tifffile.imread(f"{data}/{name}")
    if tile:
        a = a.reshape((-1,) + a.shape[-2:])
        parts = [np.ascontiguousarray(a[z:z + tile[0], y:y + tile[1], x:x + tile[2]])
                 for z in range(0, a.shape[0] - tile[0] + 1, tile[0]) for y in range(0, a.shape[1] - tile[1] + 1, tile[1])
                 for x in range(0, a.shape[2] - tile[2] + 1, tile[2])][:400]
    else:
        parts = [a]
    code, shape = sf.codec.code_of(a.dtype), ffi.new("uint64_t[]", list(parts[0].shape))
    bound = lib.sqz_encode_bound(parts[0].nbytes, code, parts[0].ndim, text)  # the C API of every build
    enc_out = [np.ones(bound, np.uint8) for _ in parts]
    def enc():
        ns = [lib.sqz_encode(ffi.from_buffer(x), x.nbytes, code, x.ndim, shape, opts, ffi.from_buffer(o), bound)
              for x, o in zip(parts, enc_out)]
        if min(ns) < 0:
            raise RuntimeError("encode failed")
        return ns
    cs = [o[:n].tobytes() for o, n in zip(enc_out, enc())]
    dst = [np.zeros_like(x) for x in parts]
    bufs = [(ffi.from_buffer(c), len(c), ffi.from_buffer(d), d.nbytes) for c, d in zip(cs, dst)]
    def dec():
        for cb, cn, db, dn in bufs:
            if lib.sqz_decode(cb, cn, db, dn, 1) != dn:
                raise RuntimeError("decode failed")
    dec()
    if any(not np.array_equal(d, x) for d, x in zip(dst, parts)) and not (pipeline and "wnl" in pipeline):
        raise RuntimeError(f"{name}: round trip differs")
    def best(f, reps=9):
        ts = []
        for _ in range(reps):
            t = time.thread_time(); f(); ts.append(time.thread_time() - t)
        return min(ts)
    raw = sum(x.nbytes for x in parts)
    mb = raw / 1e6
    out[name] = (raw / sum(map(len, cs)), mb / best(enc), mb / best(dec))
print(json.dumps(out))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("libs", help="comma-separated shared libraries")
    ap.add_argument("stacks", help="comma-separated file names in the data folder")
    ap.add_argument("--pipeline", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--tile", default="", help="Z,Y,X: chunks of this shape cut from each stack (at most 400)")
    args = ap.parse_args()
    libs, names = args.libs.split(","), args.stacks.split(",")
    for lib in libs:
        if not os.path.isfile(lib):
            sys.exit(f"no library {lib}")
    res = {lib: {n: [] for n in names} for lib in libs}
    for _ in range(args.rounds):
        for lib in libs:
            env = dict(os.environ, SQEAZY_LIBRARY=lib, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
            run = subprocess.run([sys.executable, "-c", CHILD, args.data, args.pipeline, ",".join(names), args.tile],
                                 env=env, capture_output=True, text=True)
            if run.returncode:
                sys.exit(f"{lib}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else 'failed'}")
            for n, v in json.loads(run.stdout).items():
                res[lib][n].append(v)
    rows = [{"stack": n, "library": os.path.basename(lib), "ratio": f"{res[lib][n][0][0]:.4f}",
             "MB/s in": max(x[1] for x in res[lib][n]), "MB/s out": max(x[2] for x in res[lib][n])}
            for n in names for lib in libs]
    what = f"chunks of {args.tile} (at most 400 per stack)" if args.tile else "whole stacks"
    print(f"Machine: {machine()}; {what}; best of 9 per round, {args.rounds} rounds\n")
    print(table(rows, ["stack", "library", "ratio", "MB/s in", "MB/s out"]))

if __name__ == "__main__":
    main()
