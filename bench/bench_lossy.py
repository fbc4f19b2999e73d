"""Lossy coding within the noise, single thread: sqeazy wnl against SZ3 at the same error bound.

For each integer stack: the camera is estimated from the data (estimate_camera; for
lls_rbc_raw also the nominal offset 100, gain 2.5); SZ3 (imagecodecs, float32, absolute error
bound) gets q/2 times the stack's background noise sigma (robust std of neighbour
differences / sqrt 2, as in the data README). Ratios are against the uint16 bytes. Errors are
measured on the decoded integers (SZ3's output rounded). Also Sqeazy's quantiser and rmestbkrd.

    python3 bench/bench_lossy.py [--repeats 3] [--only lls_rbc_raw] [--markdown out.md]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import interleaved, machine, single_thread_environment, stacks, table  # noqa: E402

single_thread_environment()

import imagecodecs  # noqa: E402
import numpy as np  # noqa: E402

import sqeazy_filter  # noqa: E402
from sqeazy_filter.lossy import estimate_camera, metrics  # noqa: E402

BACKEND = "nlcode16"
OTHER_BACKENDS = ("nlcode", "predict->huff")  # earlier back-ends, benchmarked in the same run


def background_sigma(a):
    d = np.diff(a.astype(np.float64), axis=-1).ravel()
    mad = np.median(np.abs(d - np.median(d)))
    return 1.4826 * mad / np.sqrt(2)


def bench_stack(name, a, qs, repeats):
    rows = []
    mb = a.nbytes / 1e6
    cameras = {"estimated": estimate_camera(a)}
    if name == "lls_rbc_raw":
        cameras["nominal"] = {"offset": 100.0, "gain": 2.5, "read_noise": 1.6}
    sigma_bg = background_sigma(a)
    for q in qs:
        cases, results = {}, {}
        for label, cam in cameras.items():
            for backend in (BACKEND,) + OTHER_BACKENDS:
                pipeline = sqeazy_filter.lossy.lossy_pipeline(q, cam, then=backend)
                chunk = sqeazy_filter.encode(a, pipeline, threads=1)
                results[f"sqeazy wnl q={q} ({label} camera) ->{backend}"] = (chunk, cam, pipeline)
        af = a.astype(np.float32)
        bound = q / 2 * sigma_bg
        sz = imagecodecs.sz3_encode(af, mode="abs", abs=bound)
        for key, (chunk, cam, pipeline) in results.items():
            cases[key + " enc"] = lambda p=pipeline: sqeazy_filter.encode(a, p, threads=1)
            cases[key + " dec"] = lambda c=chunk: sqeazy_filter.decode(c, threads=1)
        cases["sz3 enc"] = lambda: imagecodecs.sz3_encode(af, mode="abs", abs=bound)
        cases["sz3 dec"] = lambda: imagecodecs.sz3_decode(sz, a.shape, np.dtype("float32"))
        t = interleaved(cases, repeats)
        ref_cam = cameras.get("nominal", cameras["estimated"])
        for key, (chunk, cam, pipeline) in results.items():
            m = metrics(a, sqeazy_filter.decode(chunk), len(chunk), cam, q)
            rows.append(_row(key, m, mb / t[key + " enc"], mb / t[key + " dec"]))
        sz_dec = np.clip(np.rint(imagecodecs.sz3_decode(sz, a.shape, np.dtype("float32"))), 0, np.iinfo(a.dtype).max).astype(a.dtype)
        m = metrics(a, sz_dec, len(sz), ref_cam, q)
        rows.append(_row(f"SZ3 abs={bound:.2f} (q={q} x sigma_bg/2)", m, mb / t["sz3 enc"], mb / t["sz3 dec"]))
    for p in tuple(x for x in ("quantiser->" + BACKEND, "rmestbkrd->" + BACKEND) if a.itemsize == 2 or not x.startswith("quantiser")):
        chunk = sqeazy_filter.encode(a, p, threads=1)
        t = interleaved({"e": lambda: sqeazy_filter.encode(a, p, threads=1), "d": lambda: sqeazy_filter.decode(chunk, threads=1)}, repeats)
        m = metrics(a, sqeazy_filter.decode(chunk), len(chunk), cameras["estimated"])
        rows.append(_row(f"sqeazy {p}", m, mb / t["e"], mb / t["d"]))
    cam = cameras["estimated"]
    note = (f"estimated camera: offset {cam['offset']:.1f} ADU, gain {cam['gain']:.3f} ADU/e-, read noise "
            f"{cam['read_noise']:.2f} e-; background sigma {sigma_bg:.2f} ADU")
    return rows, note


def _row(label, m, enc, dec):
    return {"codec": label, "ratio": m["ratio"], "max err / sigma": m.get("max_error_sigma", float("nan")),
            "max abs err": m["max_abs_error"], "RMSE": m["rmse"], "PSNR dB": m["psnr_db"],
            "noise factor": m.get("added_noise_factor", float("nan")), "enc MB/s": enc, "dec MB/s": dec}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--q", type=float, nargs="*", default=[1.0, 2.0])
    ap.add_argument("--markdown")
    args = ap.parse_args(argv)
    head = ["# Lossy coding within the noise, single thread", "", f"Machine: {machine()}",
            f"sqeazy_filter {sqeazy_filter.__version__}, SZ3 {imagecodecs.sz3_version()} (imagecodecs "
            f"{imagecodecs.__version__}); back-end for wnl indices: {BACKEND}; medians of {args.repeats} "
            "interleaved repetitions after a warm-up.", ""]
    print("\n".join(head), flush=True)
    parts = head[:]
    cols = ["codec", "ratio", "max err / sigma", "max abs err", "RMSE", "PSNR dB", "noise factor", "enc MB/s", "dec MB/s"]
    for name, a in stacks(args.only):
        if a.dtype not in (np.uint16, np.uint8):
            continue
        rows, note = bench_stack(name, a, args.q, args.repeats)
        text = f"## {name} {a.shape} {a.dtype}\n\n{note}\n\n" + table(rows, cols) + "\n"
        print(text, flush=True)
        parts.append(text)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(parts))


if __name__ == "__main__":
    main()
