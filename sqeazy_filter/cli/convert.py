"""sqeazy compress / sqeazy decompress."""
import os
import time

import numpy as np

from ._common import (CAMERA_FIELDS, AtomicOutput, CliError, add_camera_options, add_progress_options, camera_pipeline,
                      human_bytes, progress, progress_enabled, resolve_chunks, say)


def _default_output(spec, suffix):
    from ..io import split_dataset
    path, _ = split_dataset(spec)
    path = path.rstrip("/\\")
    stem = path
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".btf", ".hdf5", ".h5"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    out = stem + suffix
    if os.path.abspath(out) == os.path.abspath(path):
        out = stem + ".sqz" + suffix
    return out


def _slab_rows(chunks, shape):
    """Planes along axis 0 read at once: one chunk row (so each chunk is written whole)."""
    return max(1, chunks[0]) if shape else 1


def _wnl_without_camera(pipeline):
    """A wnl stage with none of the camera parameters written: they would be wnl's defaults."""
    for part in pipeline.split("->"):
        name, _, rest = part.strip().partition("(")
        if name.strip() == "wnl" and not any(k in rest for k in CAMERA_FIELDS):
            return True
    return False


def _estimate_camera_into(args, src):
    """No camera given for wnl: estimate it from (up to 64 planes of) the data, and say so."""
    import sys
    from ..lossy import estimate_camera
    sample = src.read(0, min(src.shape[0], 64))
    try:
        cam = estimate_camera(sample)
    except ValueError as exc:
        raise CliError(f"wnl needs the camera: {exc}; give --camera-offset/--camera-gain/--camera-read-noise") from None
    for k in CAMERA_FIELDS:
        setattr(args, f"camera_{k}", float(cam[k]))
    print(f"sqeazy: note: camera estimated from the data: offset {cam['offset']:.4g} ADU, gain {cam['gain']:.4g} "
          f"ADU/e-, read noise {cam['read_noise']:.4g} e- (give --camera-* to set it)", file=sys.stderr)


def compress(args):
    import h5py
    from .. import Sqeazy, canonical_pipeline
    from ..io import open_source

    pipeline, camera_attrs = camera_pipeline(args.pipeline, args)
    try:
        options = Sqeazy(pipeline=pipeline, threads=args.threads, block_size=args.block_size)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out_path = args.output or _default_output(args.input, ".h5")
    dataset = args.dataset if args.dataset.startswith("/") else "/" + args.dataset
    with open_source(args.input, args.input_dataset, args.pattern) as src:
        if src.dtype.itemsize * int(np.prod(src.shape)) == 0:
            raise CliError(f"{src.name}: the image is empty {src.shape}")
        if not camera_attrs and _wnl_without_camera(pipeline):
            _estimate_camera_into(args, src)
            pipeline, camera_attrs = camera_pipeline(args.pipeline, args)
            options = Sqeazy(pipeline=pipeline, threads=args.threads, block_size=args.block_size)
        chunks = resolve_chunks(args.chunks, src.shape, src.dtype.itemsize)
        rows = _slab_rows(chunks, src.shape)
        t0 = time.perf_counter()
        with AtomicOutput(out_path, args.force) as out:
            bar = progress(src.shape[0], "compress", progress_enabled(args), unit="planes")
            try:
                with h5py.File(out.tmp, "w") as f:
                    ds = f.create_dataset(dataset, shape=src.shape, dtype=src.dtype, chunks=chunks, **options)
                    ds.attrs["axes"] = src.axes
                    ds.attrs["source"] = os.path.basename(str(src.name).rstrip("/"))
                    ds.attrs["sqeazy_pipeline"] = canonical_pipeline(pipeline)
                    for k, v in camera_attrs.items():
                        ds.attrs[k] = v
                    if src.voxel_size is not None and src.unit in ("\u00b5m", "um", "micron"):
                        if src.axes.endswith("ZYX"):
                            x, y, z = src.voxel_size
                            ds.attrs["element_size_um"] = np.array([z, y, x], dtype="f4")
                    for z0 in range(0, src.shape[0], rows):
                        z1 = min(z0 + rows, src.shape[0])
                        ds[z0:z1] = src.read(z0, z1)
                        bar.update(z1 - z0)
                    stored = None
                if args.verify:  # after closing: reads then go through the filter, not the chunk cache
                    with h5py.File(out.tmp, "r") as f:
                        ds = f[dataset]
                        for z0 in range(0, src.shape[0], rows):
                            z1 = min(z0 + rows, src.shape[0])
                            if not np.array_equal(ds[z0:z1], src.read(z0, z1)):
                                raise CliError(f"verification failed at planes {z0}..{z1 - 1}: the pipeline "
                                               f"{pipeline!r} is lossy or the data was corrupted; nothing written")
                with h5py.File(out.tmp, "r") as f:
                    stored = f[dataset].id.get_storage_size()
            finally:
                bar.close()
            out.commit()
        raw = src.dtype.itemsize * int(np.prod(src.shape))
        dt = time.perf_counter() - t0
        say(args, f"{out_path}:{dataset}  {src.shape} {src.dtype}  chunks={chunks}  "
                  f"pipeline={canonical_pipeline(pipeline)}")
        say(args, f"  {human_bytes(raw)} -> {human_bytes(stored)}  ratio {raw / max(stored, 1):.2f}  "
                  f"in {dt:.2f} s ({raw / 1e6 / max(dt, 1e-9):.0f} MB/s)" + ("  verified" if args.verify else ""))


def decompress(args):
    from ..io import Hdf5Source, InputError, is_hdf5, split_dataset, write_tiff
    import h5py

    path, dataset = split_dataset(args.input)
    dataset = args.input_dataset or dataset
    if not os.path.exists(path):
        raise CliError(f"{args.input}: no such file")
    if not is_hdf5(path):
        raise CliError(f"{path}: not an HDF5 file")
    out_path = args.output or _default_output(args.input, ".tif")
    lower = out_path.lower()
    to_tiff = lower.endswith((".tif", ".tiff", ".btf"))
    if not to_tiff and not lower.endswith((".h5", ".hdf5", ".hdf")):
        raise CliError(f"{out_path}: the output must end in .tif/.tiff (TIFF) or .h5/.hdf5 (plain HDF5)")
    with Hdf5Source(path, dataset) as src:
        rows = src.chunks[0] if src.chunks else max(1, int(16e6 // max(1, src.dtype.itemsize * np.prod(src.shape[1:]))))
        bar = progress(src.shape[0], "decompress", progress_enabled(args), unit="planes")

        def slabs():
            for z0 in range(0, src.shape[0], rows):
                z1 = min(z0 + rows, src.shape[0])
                yield src.read(z0, z1)
                bar.update(z1 - z0)

        with AtomicOutput(out_path, args.force) as out:
            try:
                if to_tiff:
                    write_tiff(out.tmp, src.shape, src.dtype, slabs(), axes=src.axes,
                               voxel_size=src.voxel_size, unit=src.unit)
                else:
                    name = args.dataset or src.dataset
                    with h5py.File(out.tmp, "w") as f:
                        ds = f.create_dataset(name, shape=src.shape, dtype=src.dtype,
                                              chunks=src.chunks if args.keep_chunks else None)
                        for k, v in src._ds.attrs.items():
                            if k != "sqeazy_pipeline":
                                ds.attrs[k] = v
                        z0 = 0
                        for slab in slabs():
                            ds[z0:z0 + len(slab)] = slab
                            z0 += len(slab)
            except InputError as exc:
                raise CliError(str(exc)) from None
            finally:
                bar.close()
            out.commit()
    say(args, f"{out_path}  {src.shape} {src.dtype}  from {src.name}")


def add_parsers(sub):
    from .. import DEFAULT_PIPELINE
    c = sub.add_parser(
        "compress", help="TIFF stack, folder of TIFF planes or HDF5 dataset -> compressed HDF5",
        description="Compress a TIFF stack, a folder of TIFF planes (natural name order) or an HDF5 dataset "
                    "(FILE.h5:/path) into one sqeazy-compressed HDF5 dataset.")
    c.add_argument("input", help="TIFF file, folder of TIFF files, or FILE.h5[:/dataset]")
    c.add_argument("-o", "--output", help="output HDF5 file (default: the input name with .h5)")
    c.add_argument("-d", "--dataset", default="/data", help="dataset path in the output (default: /data)")
    c.add_argument("--input-dataset", help="dataset of an HDF5 input (or write FILE.h5:/path)")
    c.add_argument("--pattern", help="regular expression selecting files of an input folder")
    c.add_argument("-p", "--pipeline", default=DEFAULT_PIPELINE,
                   help=f"pipeline text (default: {DEFAULT_PIPELINE}); see `sqeazy config` for the stages")
    c.add_argument("--chunks", default="auto", help="chunk shape, e.g. 16,256,256 (default: auto, ~2 MiB)")
    c.add_argument("-t", "--threads", type=int, default=0, help="threads per chunk (0: default)")
    c.add_argument("--block-size", type=int, default=0, help="bytes per coded block, multiple of 1024 (0: default)")
    c.add_argument("--verify", action="store_true", help="read back and compare before keeping the output")
    c.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    add_camera_options(c)
    add_progress_options(c)
    c.set_defaults(func=compress)

    d = sub.add_parser("decompress", help="compressed HDF5 dataset -> TIFF or plain HDF5",
                       description="Decompress one dataset to a TIFF (ImageJ hyperstack when possible) or to an "
                                   "uncompressed HDF5 file (decided by the output's extension).")
    d.add_argument("input", help="FILE.h5[:/dataset]")
    d.add_argument("-o", "--output", help="output .tif/.tiff or .h5 (default: the input name with .tif)")
    d.add_argument("--input-dataset", help="dataset to decompress (or write FILE.h5:/path)")
    d.add_argument("-d", "--dataset", help="dataset path in an HDF5 output (default: same as the input)")
    d.add_argument("--keep-chunks", action="store_true", help="HDF5 output: keep the chunk shape (default: contiguous)")
    d.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    add_progress_options(d)
    d.set_defaults(func=decompress)
