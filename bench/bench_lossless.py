"""Lossless codec benchmark: sqeazy pipelines against image and byte codecs on the real stacks.

Single thread everywhere, every codec checked for an exact round trip, a warm-up run, then
`--reps` interleaved repetitions (codec A, B, C, A, B, C, ...) and the median time of each.
MB/s in = raw MB / compression time, MB/s out = raw MB / decompression time (1 MB = 1e6 B).
Image codecs (JPEG-LS, JPEG-XL, HTJ2K) code each plane; the others the whole stack.
The second part measures sqeazy_filter.write_chunks / read_chunks with 1 and 2 threads.

    python3 bench/bench_lossless.py [--data ../shared/data] [--reps 5] [--only NAME] [--no-parallel] [--codecs SUBSTRING]
Prints Markdown (the tables of docs/BENCHMARKS.md, section "Lossless codec").
"""
import os

import common  # noqa: F401  (first: one BLAS thread before numpy is imported)

import argparse
import datetime
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import sqeazy_filter  # noqa: E402

OURS = ["lossless", "lossless64", "lossless_fast", "lossless3d", "remap->predict->qhuff", "bitshuffle->lz4", "bitshuffle->zstd"]


def sqz(pipeline):
    return (lambda a: sqeazy_filter.encode(a, pipeline, threads=1),
            lambda c, a: sqeazy_filter.decode(c, threads=1))


def per_plane(enc, dec):
    def e(a):
        return [enc(p) for p in a.reshape((-1,) + a.shape[-2:])]

    def d(cs, a):
        return np.stack([dec(c) for c in cs]).reshape(a.shape)
    return e, (d if dec is not None else None)


def peers(ic):
    """name -> (encode(array) -> object, decode(object, array) -> array, size(object))"""
    out = {}
    if ic is None:
        return out

    def have(name):
        codec = getattr(ic, name.upper(), None)
        return codec is not None and getattr(codec, "available", False)

    if have("jpegls"):
        out["JPEG-LS (per plane)"] = per_plane(ic.jpegls_encode, ic.jpegls_decode)
    if have("jpegxl"):
        for effort in (1, 3):
            out[f"JPEG-XL e{effort} (per plane)"] = per_plane(
                lambda p, e=effort: ic.jpegxl_encode(p, lossless=True, effort=e, numthreads=1),
                lambda c: ic.jpegxl_decode(c, numthreads=1))
    if have("htj2k"):
        out["HTJ2K (per plane)"] = per_plane(lambda p: ic.htj2k_encode(p, reversible=True), ic.htj2k_decode)
    if have("pcodec"):
        out["pcodec"] = (lambda a: ic.pcodec_encode(a),
                         lambda c, a: ic.pcodec_decode(c, shape=a.shape, dtype=a.dtype))
    if have("bitshuffle") and have("lz4"):
        out["bitshuffle+LZ4 (imagecodecs, per plane)"] = per_plane(
            lambda p: ic.lz4_encode(ic.bitshuffle_encode(p)), None)
    if have("bitshuffle") and have("zstd"):
        out["bitshuffle+Zstd-1 (imagecodecs, per plane)"] = per_plane(
            lambda p: ic.zstd_encode(ic.bitshuffle_encode(p), level=1), None)
    if have("blosc2"):
        for comp in ("lz4", "zstd"):
            out[f"Blosc2 bitshuffle+{comp}"] = (
                lambda a, comp=comp: ic.blosc2_encode(a, compressor=comp, shuffle="bitshuffle",
                                                      typesize=a.itemsize, numthreads=1),
                lambda c, a: np.frombuffer(ic.blosc2_decode(c, numthreads=1), a.dtype).reshape(a.shape))
    return out


def fix_bitshuffle_decoders(table, ic):
    """bitshuffle+X decoders need the plane shape: bind them per array. Each plane is decoded
    into its place in one new array (sqeazy's decode also fills one new array); stacking the
    decoded planes instead would add a copy of the stack to the peer's time (20-30% until
    session 30, docs/BENCHMARKS.md)."""
    for name, codec in list(table.items()):
        if codec[1] is None:
            comp = ic.lz4_decode if "LZ4" in name else ic.zstd_decode

            def dec(cs, a, comp=comp):
                out = np.empty(a.shape, a.dtype)
                for c, plane in zip(cs, out.reshape((-1,) + a.shape[-2:])):
                    ic.bitshuffle_decode(comp(c), itemsize=a.itemsize, out=plane.reshape(-1).view(np.uint8))
                return out
            table[name] = (codec[0], dec)


def size_of(c):
    if isinstance(c, (list, tuple)):
        return sum(len(x) for x in c)
    return len(c)


def timed(fn, *args):
    t = time.perf_counter()
    r = fn(*args)
    return r, time.perf_counter() - t


def bench_stack(a, codecs, reps):
    res = {}
    for name, (enc, dec) in codecs.items():  # warm-up and exactness
        try:
            c = enc(a)
            back = dec(c, a)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot code this dtype
            res[name] = {"error": f"{type(exc).__name__}: {exc}"[:80]}
            continue
        exact = np.array_equal(np.asarray(back).reshape(a.shape), a)
        res[name] = {"size": size_of(c), "exact": exact, "te": [], "td": []}
    for _ in range(reps):
        for name, (enc, dec) in codecs.items():
            r = res[name]
            if "error" in r:
                continue
            c, te = timed(enc, a)
            _, td = timed(dec, c, a)
            r["te"].append(te)
            r["td"].append(td)
    for r in res.values():
        if "error" not in r:
            r["ratio"] = a.nbytes / r["size"]
            r["in"] = a.nbytes / 1e6 / statistics.median(r["te"])
            r["out"] = a.nbytes / 1e6 / statistics.median(r["td"])
    return res


def print_table(name, a, res):
    print(f"\n### {name} ({'x'.join(map(str, a.shape))} {a.dtype}, {a.nbytes / 1e6:.1f} MB)\n")
    print("| codec | ratio | MB/s in | MB/s out |")
    print("|---|---:|---:|---:|")
    for codec, r in res.items():
        if "error" in r:
            print(f"| {codec} | n/a: {r['error']} | | |")
            continue
        flag = "" if r["exact"] else " (NOT EXACT)"
        print(f"| {codec}{flag} | {r['ratio']:.3f} | {r['in']:.0f} | {r['out']:.0f} |")


def bench_parallel(a, reps, pipeline="lossless"):
    import h5py
    chunks = (min(16, a.shape[0]),) + a.shape[1:]
    res = {}
    reuse = np.zeros_like(a)                        # read_chunks(out=reuse): no fresh pages per read
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.h5")
        for rep in range(reps + 1):                 # round 0 warms up and is not counted
            for mode in ("filter", 1, 2):
                with h5py.File(path, "w") as f:
                    # timed up to f.flush(): HDF5 filters cached chunks only when it evicts them
                    if mode == "filter":
                        d = f.create_dataset("x", shape=a.shape, dtype=a.dtype, chunks=chunks,
                                             **sqeazy_filter.Sqeazy(pipeline, threads=1))
                        _, t = timed(lambda: (d.__setitem__(Ellipsis, a), f.flush()))
                    else:
                        d = f.create_dataset("x", shape=a.shape, dtype=a.dtype, chunks=chunks,
                                             **sqeazy_filter.Sqeazy(pipeline))
                        _, t = timed(lambda: (sqeazy_filter.write_chunks(d, a, mode), f.flush()))
                if rep:
                    res.setdefault(("write", mode), []).append(t)
                with h5py.File(path, "r") as f:
                    if mode == "filter":
                        back, t = timed(f["x"].__getitem__, Ellipsis)
                    else:
                        back, t = timed(sqeazy_filter.read_chunks, f["x"], mode)
                    if mode != "filter":
                        _, t_out = timed(sqeazy_filter.read_chunks, f["x"], mode, reuse)
                assert np.array_equal(back, a) and (mode == "filter" or np.array_equal(reuse, a))
                if rep:
                    res.setdefault(("read", mode), []).append(t)
                    if mode != "filter":
                        res.setdefault(("read_out", mode), []).append(t_out)
    mb = a.nbytes / 1e6
    return {k: mb / statistics.median(v) for k, v in res.items()}, chunks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("SQEAZY_TEST_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", action="append", help="dataset file name (repeatable)")
    ap.add_argument("--no-parallel", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--codecs", action="append", help="run only codecs whose name contains this (repeatable)")
    args = ap.parse_args()
    try:
        import imagecodecs as ic
    except ImportError:
        ic = None
    import tifffile
    files = sorted(Path(args.data).glob("*.tif"))
    if args.only:
        files = [f for f in files if f.name in args.only]
    if not files:
        sys.exit(f"no .tif stacks in {args.data}")

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cfg = sqeazy_filter.config()
    print(f"Machine: {cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"imagecodecs {getattr(ic, '__version__', 'absent')}")
    print(f"sqeazy {cfg.get('c_version')} ({cfg.get('simd_in_use')}), {cfg.get('library')}")
    print(f"Date: {datetime.datetime.now().isoformat(timespec='minutes')}; load average at start "
          f"{os.getloadavg()[0]:.2f}; {args.reps} interleaved repetitions after a warm-up, medians; "
          f"single thread")

    codecs = {f"sqeazy {p}": sqz(p) for p in OURS}
    if not args.no_peers:
        table = peers(ic)
        fix_bitshuffle_decoders(table, ic)
        codecs.update(table)
    if args.codecs:
        codecs = {k: v for k, v in codecs.items() if any(c in k for c in args.codecs)}
    summary = []
    for path in files:
        a = tifffile.imread(path)
        res = bench_stack(a, codecs, args.reps)
        print_table(path.name, a, res)
        summary.append((path.name, a, res))

    print("\n### Targets\n")
    print("| stack | lossless ratio | JPEG-LS | JPEG-XL e3 | >= JPEG-LS | >= 0.97 JPEG-XL e3 | "
          "in >= bs+LZ4 | out >= bs+LZ4 |")
    print("|---|---:|---:|---:|---|---|---|---|")
    for name, a, res in summary:
        ours = res.get("sqeazy lossless", {})
        ls, xl = res.get("JPEG-LS (per plane)", {}), res.get("JPEG-XL e3 (per plane)", {})
        bs = res.get("bitshuffle+LZ4 (imagecodecs, per plane)", {})
        if "ratio" not in ours:
            continue
        def cmp(x, y, f=1.0):
            if f != 1.0 and a.dtype != np.uint16:
                return "n/a (target for uint16)"
            return "" if "ratio" not in y else ("yes" if x >= f * y["ratio"] else "NO")
        def spd(key):
            return "" if key not in bs else ("yes" if ours[key] >= bs[key] else f"NO ({ours[key] / bs[key]:.2f}x)")
        print(f"| {name} | {ours['ratio']:.3f} | {ls.get('ratio', float('nan')):.3f} | "
              f"{xl.get('ratio', float('nan')):.3f} | {cmp(ours['ratio'], ls)} | {cmp(ours['ratio'], xl, 0.97)} | "
              f"{spd('in')} | {spd('out')} |")

    if not args.no_parallel:
        name = "lls_rbc_raw.tif" if any(f.name == "lls_rbc_raw.tif" for f in files) else files[0].name
        a = tifffile.imread(Path(args.data) / name)
        speeds, chunks = bench_parallel(a, max(3, args.reps))
        print(f"\n### Parallel writer and reader ({name}, chunks {chunks}, pipeline lossless)\n")
        print("| path | write MB/s | read MB/s | write speed-up | read speed-up | read into a reused `out=`, MB/s | its speed-up |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        base_w, base_r, base_o = speeds[("write", 1)], speeds[("read", 1)], speeds[("read_out", 1)]
        rows = [("h5py + filter, 1 thread per chunk", "filter"), ("write_chunks/read_chunks, threads=1", 1),
                ("write_chunks/read_chunks, threads=2", 2)]
        for label, mode in rows:
            w, r = speeds[("write", mode)], speeds[("read", mode)]
            o = speeds.get(("read_out", mode))
            tail = f"{o:.0f} | {o / base_o:.2f}x" if o else "- | -"
            print(f"| {label} | {w:.0f} | {r:.0f} | {w / base_w:.2f}x | {r / base_r:.2f}x | {tail} |")
    print(f"\nLoad average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
