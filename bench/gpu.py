"""GPU vs CPU throughput (docs/GPU.md): GB/s of raw data for encode and decode, host-to-host
(numpy in, chunks out) and device-resident (CuPy in/out), next to the CPU on all cores and the
ceilings measured in the same run: host memory copy, device memory copy and PCIe (CuPy).

    python bench/gpu.py [--mib 1024] [--planes 16] [--pipelines 'raw;lossless;lossless@16384'] [--repeat 3]

A pipeline written P@B is coded with blocks of B bytes (the block_size option): smaller blocks
give the GPU more independent streams to decode.

Without a GPU it says so, prints the CPU column and exits 0.
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best, machine  # noqa: E402

from sqeazy_filter import codec, gpu  # noqa: E402

WNL = "wnl(q=1,offset=100,gain=2.5,read_noise=1.6)->raw"


def camera_stack(mib, plane=(512, 512), seed=1):
    """Photon-noise-limited uint16 planes: blobs on an offset of 100 ADU, gain 2.5, read noise 1.6 e-."""
    n = max(1, int(mib * 2**20 // (plane[0] * plane[1] * 2)))
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: plane[0], : plane[1]]
    signal = 200 * np.exp(-(((yy - plane[0] / 2) / 80) ** 2 + ((xx - plane[1] / 3) / 60) ** 2))
    planes = [100 + 2.5 * rng.poisson(signal * (1 + 0.1 * np.sin(i))) + rng.normal(0, 4, plane) for i in range(min(n, 8))]
    return np.stack([planes[i % len(planes)] for i in range(n)]).clip(0, 65535).astype(np.uint16)


def tiff_stack(path, mib):
    """A real stack (uint16 or uint8, 3-D), repeated along z to about `mib` MiB."""
    import tifffile
    a = tifffile.imread(path)
    a = a.reshape((-1,) + a.shape[-2:])
    reps = max(1, int(round(mib * 2**20 / a.nbytes)))
    return np.ascontiguousarray(np.concatenate([a] * reps))


def split(pipe):
    """'P@B' -> (P, B); 'P' -> (P, 0)."""
    p, _, b = pipe.partition("@")
    return p, int(b or 0)


def cpu_rows(stack, planes, pipes, repeat):
    """The CPU path on all cores: chunks coded in parallel threads (the C code releases the GIL)."""
    workers = os.cpu_count() or 1
    parts = [stack[i:i + planes] for i in range(0, stack.shape[0], planes)]
    rows = []
    with ThreadPoolExecutor(workers) as pool:
        for pipe in pipes:
            p, bs = split(pipe)
            enc = lambda: list(pool.map(lambda a: codec.encode(a, pipeline=p, threads=1, block_size=bs), parts))  # noqa: E731
            chunks = enc()
            dec = lambda: list(pool.map(lambda c: codec.decode(c, threads=1), chunks))  # noqa: E731
            ratio = stack.nbytes / sum(len(c) for c in chunks)
            rows.append((f"CPU, {workers} threads", pipe, stack.nbytes / best(enc, repeat) / 1e9,
                         stack.nbytes / best(dec, repeat) / 1e9, ratio))
    return rows


def gpu_encodes(pipeline, stack, planes):
    from sqeazy_filter import _dtypes
    shape = gpu._ffi.new("uint64_t[]", [planes] + list(stack.shape[1:]))
    return gpu._backend.sqz_cuda_can_encode(pipeline.encode(), _dtypes.code_of(stack.dtype), stack.ndim, shape) == 1


def gpu_rows(stack, planes, pipes, repeat, slots=4):
    rows = []
    cp = None
    try:
        import cupy as cp  # noqa: F811
    except ImportError:
        pass
    with gpu.Context(fallback=False, slots=slots) as ctx:
        for pipe in pipes:
            p, bs = split(pipe)
            on_gpu = gpu_encodes(p, stack, planes)  # else (lossless64): the CPU encodes, the GPU decodes
            chunks = ctx.compress(stack, planes, pipeline=p, block_size=bs)
            out = np.empty_like(stack)
            rows.append((f"GPU host-to-host, {slots} slots", pipe,
                         stack.nbytes / best(lambda: ctx.compress(stack, planes, pipeline=p, block_size=bs), repeat) / 1e9
                         if on_gpu else None,
                         stack.nbytes / best(lambda: ctx.decompress(chunks, out), repeat) / 1e9,
                         stack.nbytes / sum(len(c) for c in chunks)))
            if cp is not None:
                d_stack, d_out = cp.asarray(stack), cp.empty(stack.shape, stack.dtype)

                def enc():
                    ctx.compress(d_stack, planes, pipeline=p, block_size=bs)
                    cp.cuda.Device().synchronize()

                def dec():
                    ctx.decompress(chunks, d_out)
                    cp.cuda.Device().synchronize()
                rows.append((f"GPU device-resident, {slots} slots", pipe,
                             stack.nbytes / best(enc, repeat) / 1e9 if on_gpu else None,
                             stack.nbytes / best(dec, repeat) / 1e9, rows[-1][4]))
    return rows


def ceilings(stack, repeat):
    out = [("host memcpy", stack.nbytes / best(lambda: np.copyto(np.empty_like(stack), stack), repeat) / 1e9)]
    try:
        import cupy as cp
    except ImportError:
        return out + [("device memcpy / PCIe", "n/a (needs CuPy)")]
    d = cp.asarray(stack)
    d2 = cp.empty_like(d)
    pinned = cp.cuda.alloc_pinned_memory(stack.nbytes)
    host = np.frombuffer(pinned, stack.dtype, stack.size).reshape(stack.shape)
    host[...] = stack

    def sync(f):
        def g():
            f()
            cp.cuda.Device().synchronize()
        return g
    out.append(("device memcpy (read+write)", stack.nbytes / best(sync(lambda: cp.copyto(d2, d)), repeat) / 1e9))
    out.append(("PCIe host->device (pinned)", stack.nbytes / best(sync(lambda: d.set(host)), repeat) / 1e9))
    out.append(("PCIe device->host (pinned)", stack.nbytes / best(sync(lambda: d.get(out=host)), repeat) / 1e9))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=float, default=256)
    ap.add_argument("--planes", type=int, default=16, help="planes per chunk")
    ap.add_argument("--pipelines", default=f"raw;{WNL};lossless", help="separated by ';'")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slots", default="4", help="chunks in flight on the GPU; several separated by ','")
    ap.add_argument("--tif", help="a real stack, repeated along z to --mib, instead of the synthetic one")
    args = ap.parse_args(argv)
    pipes = [p.strip() for p in args.pipelines.split(";") if p.strip()]
    stack = tiff_stack(args.tif, args.mib) if args.tif else camera_stack(args.mib)
    what = os.path.basename(args.tif) if args.tif else "synthetic camera stack"
    print(f"# sqeazy GPU benchmark\nmachine: {machine()}")
    print(f"data: {what} {stack.shape} {stack.dtype}, {stack.nbytes / 2**20:.0f} MiB, chunks of {args.planes} planes")
    have_gpu = gpu.available()
    print(f"GPU: {gpu.device_name() if have_gpu else 'no GPU available: ' + gpu.unavailable_reason()}")
    if have_gpu and "emulation" in gpu.device_name():
        print("NOTE: the CPU EMULATION backend is loaded (SQEAZY_CUDA_LIBRARY): these are not GPU numbers")
    rows = cpu_rows(stack, args.planes, pipes, args.repeat)
    if have_gpu:
        for slots in (int(v) for v in args.slots.split(",")):
            rows += gpu_rows(stack, args.planes, pipes, args.repeat, slots)
    print(f"\n| path | pipeline | encode GB/s | decode GB/s | ratio |\n|---|---|---:|---:|---:|")
    for path, pipe, e, d, r in rows:
        print(f"| {path} | {pipe} | {'CPU encodes' if e is None else f'{e:.2f}'} | {d:.2f} | {r:.2f} |")
    print("\n| ceiling | GB/s |\n|---|---:|")
    for name, v in ceilings(stack, args.repeat):
        print(f"| {name} | {v if isinstance(v, str) else f'{v:.2f}'} |")
    if not have_gpu:
        print("\nno GPU available: GPU columns not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
