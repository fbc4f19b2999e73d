"""sqeazy bdv: TIFF stacks / folders / HDF5 datasets -> BigDataViewer XML + HDF5, compressed."""
import os
import time

from .. import plugin_path
from ._common import (CliError, add_progress_options, check_output, human_bytes, parse_floats, parse_ints, progress,
                      progress_enabled, say)


def run(args):
    from .. import bdv, canonical_pipeline
    from ..io import open_source

    xml_path = args.output
    if not xml_path.lower().endswith(".xml"):
        raise CliError(f"{xml_path}: the output must be the .xml file (the .h5 is written next to it)")
    h5_path = os.path.splitext(xml_path)[0] + ".h5"
    check_output(xml_path, args.force)
    check_output(h5_path, args.force)
    try:
        pipeline = canonical_pipeline(args.pipeline)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.setups < 1 or len(args.inputs) % args.setups:
        raise CliError(f"--setups {args.setups}: the {len(args.inputs)} inputs must be a multiple of it "
                       "(inputs are listed time point by time point, setups inside)")
    voxel = parse_floats(args.voxel_size, "--voxel-size", 3) if args.voxel_size else None
    block = parse_ints(args.block, "--block", 3) if args.block else None

    sources, views, setups = [], [], {}
    try:
        for i, spec in enumerate(args.inputs):
            src = open_source(spec, args.input_dataset, args.pattern)
            sources.append(src)
            if args.axes:
                axes = args.axes.upper()
                if len(axes) != len(src.shape):
                    raise CliError(f"--axes {args.axes}: {src.name} has {len(src.shape)} dimensions {src.shape}")
                src.axes = axes
            if len(args.inputs) > 1 and ("T" in src.axes or "C" in src.axes):
                raise CliError(f"{src.name}: axes {src.axes} hold time points or channels; give such a stack alone "
                               "(or set --axes)")
            t, s0 = (i // args.setups, i % args.setups) if len(args.inputs) > 1 else (0, 0)
            try:
                vs, nc = bdv.views_from_source(src, setup_offset=s0, timepoint=t)
            except ValueError as exc:
                raise CliError(str(exc)) from None
            views.extend(vs)
            for c in range(nc):
                sid = s0 + c
                if sid in setups:
                    continue
                size = voxel or src.voxel_size or (1.0, 1.0, 1.0)
                unit = args.unit or (src.unit if src.voxel_size and not voxel else "\u00b5m" if voxel else "pixel")
                name = os.path.basename(str(spec).rstrip("/")) if args.setups > 1 else f"channel {sid}"
                setups[sid] = {"voxel_size": tuple(size), "unit": unit, "name": name if nc == 1 else f"channel {sid}"}
        for sid in setups:
            shapes = {v.shape for v in views if v.setup == sid}
            if len(shapes) > 1:
                raise CliError(f"setup {sid}: the inputs have different shapes {sorted(shapes)}")
        total = sum(v.shape[0] for v in views)
        bar = progress(total, "bdv", progress_enabled(args), unit="planes")
        t0 = time.perf_counter()
        try:
            pyramids = bdv.write_bdv(xml_path, views, setups, pipeline=pipeline, threads=args.threads,
                                     levels=args.levels, block_xyz=block, progress=bar, force=args.force,
                                     h5_path=h5_path)
        except (ValueError, FileExistsError) as exc:
            raise CliError(str(exc)) from None
        finally:
            bar.close()
    finally:
        for s in sources:
            s.close()
    raw = sum(v.shape[0] * v.shape[1] * v.shape[2] * v.dtype.itemsize for v in views)
    stored = os.path.getsize(h5_path)
    n_tp = len({v.timepoint for v in views})
    say(args, f"{xml_path} + {os.path.basename(h5_path)}: {len(setups)} setup(s), {n_tp} time point(s), "
              f"pipeline {pipeline}")
    for sid, (factors, blocks) in sorted(pyramids.items()):
        levels = ", ".join(f"{'x'.join(map(str, f))}" for f in factors)
        say(args, f"  setup {sid}: levels (x,y,z factors) {levels}; blocks {'x'.join(map(str, blocks[0]))}")
    say(args, f"  level 0 {human_bytes(raw)} -> file {human_bytes(stored)} (all levels) "
              f"in {time.perf_counter() - t0:.1f} s")
    say(args, f"  open in Fiji: Plugins > BigDataViewer > Open XML/HDF5, with HDF5_PLUGIN_PATH="
              f"{plugin_path()}")


def add_parser(sub):
    from .. import DEFAULT_PIPELINE
    b = sub.add_parser(
        "bdv", help="write BigDataViewer XML + HDF5 (multi-resolution, compressed)",
        description="Convert TIFF stacks, folders of TIFF planes or HDF5 datasets into BigDataViewer's "
                    "XML + HDF5 layout with a multi-resolution pyramid, every level compressed with sqeazy. "
                    "One input with T/C axes gives time points/setups; several 3-D inputs are time points "
                    "(with --setups N: time point by time point, N setups each).")
    b.add_argument("inputs", nargs="+", help="TIFF files, folders of TIFF planes or FILE.h5:/dataset")
    b.add_argument("-o", "--output", required=True, help="output .xml (the .h5 goes next to it)")
    b.add_argument("--setups", type=int, default=1, help="inputs per time point (channels/angles), default 1")
    b.add_argument("--axes", help="axes of the inputs, e.g. ZYX, TZYX, TCZYX, TYX (default: from the file)")
    b.add_argument("--voxel-size", help="x,y,z voxel size (default: from the TIFF, else 1,1,1)")
    b.add_argument("--unit", help="unit of the voxel size (default: from the TIFF, else µm when given)")
    b.add_argument("--levels", type=int, help="at most this many pyramid levels (default: automatic, up to 8)")
    b.add_argument("--block", help="x,y,z block (chunk) size of every level (default: 64,64,<=64)")
    b.add_argument("--input-dataset", help="dataset of HDF5 inputs")
    b.add_argument("--pattern", help="regular expression selecting files of input folders")
    b.add_argument("-p", "--pipeline", default=DEFAULT_PIPELINE, help=f"pipeline (default: {DEFAULT_PIPELINE})")
    b.add_argument("-t", "--threads", type=int, default=0, help="threads per chunk (0: default)")
    b.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    add_progress_options(b)
    b.set_defaults(func=run)
