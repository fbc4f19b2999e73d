"""sqeazy bench: every pipeline on the user's own stack (ratio, MB/s, error) and a recommendation."""
import json
import os
import platform
import time

import numpy as np

from ._common import CliError, add_camera_options, camera_pipeline, check_output, progress, progress_enabled, \
    resolve_chunks


def classify_stages():
    """(filters, codecs, other): stage names by what the pipeline parser accepts."""
    from .. import canonical_pipeline, stages
    filters, codecs, other = [], [], []
    for name in stages():
        try:
            canonical_pipeline(f"{name}->raw")
            filters.append(name)
            continue
        except ValueError:
            pass
        try:
            canonical_pipeline(name)
            codecs.append(name)
        except ValueError:
            other.append(name)  # needs parameters: give it with --pipelines
    return filters, codecs, other


def candidate_pipelines(camera=None):
    """Every codec alone and every lossless filter in front of every codec (raw only alone, as the
    baseline); with camera parameters, also every lossy filter in front of those pipelines."""
    from .. import DEFAULT_PIPELINE, canonical_pipeline, stages
    filters, codecs, _ = classify_stages()
    lossy = set(stages(lossy=True))
    lossless_filters = [f for f in filters if f not in lossy]
    base = list(codecs)
    base += [f"{f}->{c}" for f in lossless_filters for c in codecs if c != "raw"]
    out = list(base)
    if camera:
        params = ",".join(f"{k}={v:g}" for k, v in camera.items())
        out += [f"{f}({params})->{p}" for f in filters if f in lossy for p in base if p != "raw"]
    result = []
    for p in out + [DEFAULT_PIPELINE]:
        try:
            result.append(canonical_pipeline(p))
        except ValueError:
            pass  # e.g. a lossy stage that needs other parameters
    return list(dict.fromkeys(result))


def _chunks_of(data, chunks):
    grid = [range(0, s, c) for s, c in zip(data.shape, chunks)]
    for corner in np.ndindex(*[len(g) for g in grid]):
        idx = tuple(slice(g[i], g[i] + c) for g, i, c in zip(grid, corner, chunks))
        yield np.ascontiguousarray(data[idx])


def _time_best(fn, repeat):
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _measure(name, encode, decode, pieces, repeat, kind):
    raw = sum(p.nbytes for p in pieces)
    decode(encode(pieces[0]), pieces[0])  # warm-up: first-touch allocations are not the codec's speed
    t_enc, blobs = _time_best(lambda: [encode(p) for p in pieces], repeat)
    t_dec, outs = _time_best(lambda: [decode(b, p) for b, p in zip(blobs, pieces)], repeat)
    stored = sum(len(b) for b in blobs)
    max_err, sq, n = 0.0, 0.0, 0
    for p, o in zip(pieces, outs):
        d = p.astype(np.float64) - np.asarray(o, dtype=np.float64).reshape(p.shape)
        if d.size:
            max_err = max(max_err, float(np.abs(d).max()))
            sq += float((d * d).sum())
            n += d.size
    return {"pipeline": name, "kind": kind, "ratio": raw / max(stored, 1), "stored_bytes": stored,
            "encode_MBps": raw / 1e6 / max(t_enc, 1e-9), "decode_MBps": raw / 1e6 / max(t_dec, 1e-9),
            "max_abs_error": max_err, "rmse": (sq / n) ** 0.5 if n else 0.0, "lossless": max_err == 0.0}


def _peers():
    """Other compressors measured on the same chunks (for context; we do not write them)."""
    import zlib
    peers = [("zlib(level=1) [peer]", lambda a: zlib.compress(a.tobytes(), 1),
              lambda b, p: np.frombuffer(zlib.decompress(b), p.dtype))]
    try:
        from numcodecs import Blosc
        for cname in ("lz4", "zstd"):
            codec = Blosc(cname=cname, clevel=5 if cname == "lz4" else 1, shuffle=Blosc.BITSHUFFLE, blocksize=0)
            peers.append((f"blosc({cname},bitshuffle) [peer]", lambda a, c=codec: c.encode(a),
                          lambda b, p, c=codec: np.frombuffer(c.decode(b), p.dtype)))
    except ImportError:
        pass
    return peers


def _machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model


def recommend(results, min_speed):
    """The pipeline to use: best ratio among lossless ones fast enough (lossy ones are never recommended)."""
    lossless = [r for r in results if r["lossless"] and r["kind"] == "sqeazy"]
    if not lossless:
        return None, "no lossless pipeline"
    fast = [r for r in lossless if r["encode_MBps"] >= min_speed]
    if fast:
        best = max(fast, key=lambda r: (round(r["ratio"], 3), r["encode_MBps"]))
        return best, f"best ratio among lossless pipelines encoding >= {min_speed:g} MB/s"
    best = max(lossless, key=lambda r: r["encode_MBps"])
    return best, f"no lossless pipeline reaches {min_speed:g} MB/s; this is the fastest"


def plot(results, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for r in results:
        marker = "o" if r["lossless"] else "x"
        color = "tab:gray" if r["kind"] == "peer" else ("tab:blue" if r["lossless"] else "tab:red")
        ax.scatter(r["encode_MBps"], r["ratio"], marker=marker, color=color)
        ax.annotate(r["pipeline"], (r["encode_MBps"], r["ratio"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("encode speed (MB/s, log)")
    ax.set_ylabel("compression ratio")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def run(args):
    from .. import _lib, canonical_pipeline, decode, encode
    from ..io import open_source

    if args.plot:
        check_output(args.plot, args.force)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CliError("--plot needs matplotlib: pip install matplotlib") from None
    if args.pipelines:
        names = []
        for p in args.pipelines:
            text, _ = camera_pipeline(p, args)
            try:
                canonical_pipeline(text)
            except ValueError as exc:
                raise CliError(str(exc)) from None
            names.append(text)
    else:
        camera = {k: getattr(args, f"camera_{k}") for k in ("offset", "gain", "read_noise")
                  if getattr(args, f"camera_{k}") is not None}
        names = candidate_pipelines(camera)
    with open_source(args.input, args.input_dataset, args.pattern) as src:
        plane = src.dtype.itemsize * int(np.prod(src.shape[1:]))
        n = max(1, min(src.shape[0], int(args.max_mb * 1e6 // max(plane, 1))))
        data = src.read(0, n)
        name = src.name
    chunks = resolve_chunks(args.chunks, data.shape, data.dtype.itemsize)
    pieces = list(_chunks_of(data, chunks))
    threads = args.threads
    jobs = [(p, lambda a, p=p: encode(a, p, threads=threads), lambda b, a: decode(b, threads=threads), "sqeazy")
            for p in names]
    if args.peers:
        jobs += [(p, e, d, "peer") for p, e, d in _peers()]
    bar = progress(len(jobs), "bench", progress_enabled(args), unit="pipelines")
    results = []
    try:
        for p, e, d, kind in jobs:
            try:
                results.append(_measure(p, e, d, pieces, args.repeat, kind))
            except Exception as exc:  # noqa: BLE001 - one failing pipeline does not end the run
                results.append({"pipeline": p, "kind": kind, "error": str(exc)})
            bar.update(1)
    finally:
        bar.close()
    ok = [r for r in results if "error" not in r]
    best, why = recommend(ok, args.min_speed)
    lib = _lib.load()
    machine = {"cpu": _machine(), "cores": os.cpu_count(), "threads": threads or lib.sqz_default_threads(),
               "simd": {0: "scalar", 2: "avx2", 3: "avx512"}.get(lib.sqz_simd_get(), "?")}
    dataset = {"input": name, "shape": list(data.shape), "dtype": str(data.dtype), "MB": data.nbytes / 1e6,
               "chunks": list(chunks), "planes_used": n, "planes_total": src.shape[0]}
    if args.json:
        print(json.dumps({"machine": machine, "data": dataset, "results": results,
                          "recommended": best["pipeline"] if best else None, "reason": why}, indent=2))
    else:
        print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads/chunk, "
              f"SIMD {machine['simd']}")
        print(f"data:    {name} {tuple(data.shape)} {data.dtype} ({data.nbytes / 1e6:.1f} MB"
              + (f", first {n} of {src.shape[0]} planes" if n < src.shape[0] else "") + f"), chunks {chunks}")
        width = max(len(r["pipeline"]) for r in results) + 2
        print(f"{'pipeline':<{width}}{'ratio':>8}{'enc MB/s':>10}{'dec MB/s':>10}{'max|err|':>10}{'rmse':>9}")
        for r in sorted(ok, key=lambda r: -r["ratio"]):
            print(f"{r['pipeline']:<{width}}{r['ratio']:>8.3f}{r['encode_MBps']:>10.0f}{r['decode_MBps']:>10.0f}"
                  f"{r['max_abs_error']:>10.3g}{r['rmse']:>9.3g}")
        for r in results:
            if "error" in r:
                print(f"{r['pipeline']:<{width}}failed: {r['error']}")
        if best:
            print(f"recommended: {best['pipeline']}  ({why})")
            print(f"  sqeazy compress {args.input} --pipeline \"{best['pipeline']}\"")
            lossy = [r for r in ok if not r["lossless"] and r["kind"] == "sqeazy"]
            if lossy:
                top = max(lossy, key=lambda r: r["ratio"])
                print(f"best lossy: {top['pipeline']}  ratio {top['ratio']:.2f}, max |error| "
                      f"{top['max_abs_error']:.3g} (check that the error is acceptable for your analysis)")
        else:
            print(f"recommended: none ({why})")
    if args.plot:
        from ._common import AtomicOutput
        with AtomicOutput(args.plot, args.force) as out:
            with open(out.tmp, "wb") as f:
                plot(ok, f, f"{os.path.basename(str(name))} {tuple(data.shape)} {data.dtype}")
            out.commit()
        if not args.json:
            print(f"plot: {args.plot}")


def add_parser(sub):
    b = sub.add_parser("bench", help="ratio, speed and error of every pipeline on your stack, with a recommendation",
                       description="Compress the first --max-mb of a stack with every pipeline (or --pipelines), "
                                   "chunk by chunk as `compress` would, and recommend one.")
    b.add_argument("input", help="TIFF file, folder of TIFF planes, or FILE.h5[:/dataset]")
    b.add_argument("--pipelines", nargs="+", help="pipelines to measure (default: every filter x codec)")
    b.add_argument("--chunks", default="auto", help="chunk shape (default: as compress)")
    b.add_argument("-t", "--threads", type=int, default=0, help="threads per chunk (0: default)")
    b.add_argument("--max-mb", type=float, default=64.0, help="use at most this many MB of the stack (default 64)")
    b.add_argument("--repeat", type=int, default=3, help="timing runs per pipeline, best kept (default 3)")
    b.add_argument("--min-speed", type=float, default=100.0,
                   help="recommend the best ratio among pipelines encoding at least this many MB/s (default 100)")
    b.add_argument("--peers", action="store_true", help="also measure zlib and Blosc on the same chunks")
    b.add_argument("--plot", help="write a PNG of ratio against encode speed (needs matplotlib)")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.add_argument("--input-dataset", help="dataset of an HDF5 input")
    b.add_argument("--pattern", help="regular expression selecting files of an input folder")
    b.add_argument("-f", "--force", action="store_true", help="overwrite an existing plot")
    b.add_argument("--progress", dest="progress", action="store_true", default=None, help="show a progress bar")
    add_camera_options(b)
    b.set_defaults(func=run)
