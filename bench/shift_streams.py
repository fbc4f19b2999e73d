"""Input for bench/shift_loops.c, and the huff stage's own decoding cost on the same stack.

Writes, for one uint16 stack: mode-5 residuals (zigzag, planes as 2-D, as in bench/gr_estimate.py)
in blocks of whole rows (~256 KiB; a block's first row has no row above), and per block the shift
of each of 64 activity levels and the code lengths (<= 11 bits) of one Huffman table for the
quotients z >> k (escape 32, then 17 raw bits). Then times the library's `predict(mode=5)->huff`
and `predict(mode=5)->raw` decoders (CPU time, best of 9): their difference is what huff's symbols
and contexts cost now.
    python3 bench/shift_streams.py lls_rbc_raw /tmp/shift.bin
    cc -O2 -march=native bench/shift_loops.c -o /tmp/shift_loops && /tmp/shift_loops /tmp/shift.bin
"""
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, stacks  # noqa: E402
from gr_estimate import huffman_lengths, residuals  # noqa: E402

ESC = 32


def level(act):
    """quarter-octave level of the activity, an integer rule shift_loops.c repeats"""
    u = act.astype(np.int64) + 1
    nb = np.floor(np.log2(u)).astype(np.int64)
    frac = np.where(nb >= 2, u >> np.maximum(nb - 2, 0), u << np.maximum(2 - nb, 0)) & 3
    return np.minimum(4 * nb + frac, 63)


def block(z, lvl):
    best = None
    for m in (0.5, 1, 2, 4):
        kt = np.zeros(64, np.int64)
        for L in np.unique(lvl):
            kt[L] = int(max(np.log2((z[lvl == L].mean() + 0.5) / m), 0.0))
        k = kt[lvl]
        sym = np.minimum(z >> k, ESC)
        lens = huffman_lengths(np.bincount(sym, minlength=ESC + 1), limit=11)
        bits = lens[sym].sum() + np.where(sym == ESC, 17, k).sum()
        if best is None or bits < best[0]:
            best = (bits, kt, lens)
    return best


def lib_cost(a):
    import sqeazy_filter as sf
    from sqeazy_filter import _lib
    ffi, lib = _lib.ffi, _lib.load()
    out = {}
    dst = np.zeros_like(a)
    for p in ("predict(mode=5)->huff", "predict(mode=5)->raw"):
        c = sf.encode(a, pipeline=p, threads=1)
        cb, db = ffi.from_buffer(c), ffi.from_buffer(dst)
        ts = []
        for _ in range(9):
            t = time.thread_time()
            assert lib.sqz_decode(cb, len(c), db, dst.nbytes, 1) == dst.nbytes
            ts.append(time.thread_time() - t)
        assert np.array_equal(dst, a)
        out[p] = min(ts)
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: python3 bench/shift_streams.py STACK OUTFILE")
    name, path = sys.argv[1], sys.argv[2]
    a = next((arr for n, arr in stacks([name])), None)
    if a is None or a.dtype != np.uint16:
        raise SystemExit(f"{name}: not a uint16 stack in the data folder")
    Y, X = a.shape[-2:]
    z, act = residuals(a)
    rows = max(1, (256 * 1024 // a.dtype.itemsize) // X)
    for s in range(0, z.size, rows * X):
        act[s:s + X] = 0  # a block's first row has no row above
    lvl = level(act)
    total = 0
    with open(path, "wb") as f:
        starts = range(0, z.size, rows * X)
        f.write(struct.pack("<4sIII", b"SHFT", X, Y, len(starts)))
        for s in starts:
            zb, lb = z[s:s + rows * X], lvl[s:s + rows * X]
            bits, kt, lens = block(zb, lb)
            total += bits + (32 + 40) * 8
            f.write(struct.pack("<II", zb.size, s // X % Y))
            f.write(kt.astype(np.uint8).tobytes() + lens.astype(np.uint8).tobytes())
            f.write(zb.astype(np.uint32).tobytes())
    t = lib_cost(a)
    n = a.size
    print(f"Machine: {machine()}")
    print(f"{name}: {n} elements, {len(starts)} blocks of {rows} rows; shift + 1 table: ratio "
          f"{n * 8 * a.dtype.itemsize / total:.4f} (Huffman lengths)")
    print(f"library, decode ns/element: predict(mode=5)->huff {t['predict(mode=5)->huff'] / n * 1e9:.3f}, "
          f"predict(mode=5)->raw {t['predict(mode=5)->raw'] / n * 1e9:.3f}, "
          f"huff's part {(t['predict(mode=5)->huff'] - t['predict(mode=5)->raw']) / n * 1e9:.3f}")


if __name__ == "__main__":
    main()
