"""sqeazy convert: a time-lapse -> BigDataViewer partitioned HDF5 + XML, in parallel on Dask."""
import os

from .. import plugin_path
from ._common import CliError, add_progress_options, human_bytes, parse_floats, parse_ints, progress, \
    progress_enabled, say


def run(args):
    from .. import convert

    voxel = parse_floats(args.voxel_size, "--voxel-size", 3) if args.voxel_size else None
    block = parse_ints(args.block, "--block", 3) if args.block else None
    if args.dry_run:
        plan = convert.plan_source(args.source, args.input_dataset, args.axes, voxel, args.unit, args.allow_gaps)
        say(args, plan.description)
        for sid, meta in sorted(plan.setups.items()):
            ref = next(v for v in plan.views if v.setup == sid)
            say(args, f"  setup {sid} ({meta['name']}): {ref.shape[2]} x {ref.shape[1]} x {ref.shape[0]} (x y z) "
                      f"{ref.dtype}, voxel {meta['voxel_size']} {meta['unit']}")
        return
    state = {"bar": None, "n": 0}

    def on_partition(result):
        if state["bar"] is not None:
            state["bar"].update(1)
        if args.verbose:
            what = "kept (verified before)" if result.get("skipped") else \
                f"written in {result['seconds']:.1f} s on {result['host']}:{result['pid']}"
            say(args, f"  {result['name']}: {what}, {human_bytes(result['stored_bytes'])}")

    # the number of partitions is known only after planning: count them the same way
    plan = convert.plan_source(args.source, args.input_dataset, args.axes, voxel, args.unit, args.allow_gaps)
    n_t = len({v.timepoint for v in plan.views})
    n_s = len(plan.setups)
    per_t = args.timepoints_per_partition or n_t
    per_s = args.setups_per_partition or n_s
    total = -(-n_t // per_t) * -(-n_s // per_s)
    state["bar"] = progress(total, "convert", progress_enabled(args), unit="partitions")
    try:
        summary = convert.convert_timelapse(
            args.source, args.output, dataset=args.input_dataset, axes=args.axes, pipeline=args.pipeline,
            block_size=args.block_size, threads=args.threads, levels=args.levels, block_xyz=block, voxel_size=voxel,
            unit=args.unit, timepoints_per_partition=args.timepoints_per_partition,
            setups_per_partition=args.setups_per_partition, scheduler=args.scheduler, n_workers=args.workers,
            threads_per_worker=args.threads_per_worker, retries=args.retries, force=args.force,
            recheck=args.recheck, allow_gaps=args.allow_gaps, on_partition=on_partition)
    except FileExistsError as exc:
        raise CliError(str(exc)) from None
    finally:
        state["bar"].close()
    s = summary
    say(args, f"{s['xml']} + {os.path.basename(s['master'])}: {s['timepoints']} time point(s), {s['setups']} setup(s) "
              f"in {s['partitions']} partition(s): {s['written']} written, {s['skipped']} kept from before")
    rate = s["written_raw_bytes"] / 1e6 / max(s["seconds"], 1e-9)
    say(args, f"  {human_bytes(s['raw_bytes'])} -> {human_bytes(s['stored_bytes'])} (all levels), "
              f"{s['seconds']:.1f} s" + (f", {rate:.0f} MB/s on {s['workers']} worker(s)" if s["written"] else ""))
    say(args, f"  checksums: {os.path.basename(s['manifest'])}; open in Fiji: Plugins > BigDataViewer > "
              f"Open XML/HDF5 with HDF5_PLUGIN_PATH={plugin_path()}")


def add_parser(sub):
    from .. import DEFAULT_PIPELINE
    c = sub.add_parser(
        "convert", help="time-lapse -> BigDataViewer partitioned HDF5 + XML, in parallel on Dask (resumable)",
        description="Compress a time-lapse on a Dask cluster (default: on this machine) into BigDataViewer's "
                    "partitioned HDF5 layout: one partition file per group of time points, a master .h5 linking "
                    "them and the .xml Fiji opens. Each partition is verified before it gets its final name; "
                    "a rerun keeps verified partitions and converts the rest. See docs/CLUSTER.md.")
    c.add_argument("source", help="TIFF pattern with {t} and optionally {c} (quote it), e.g. 'raw/t{t}_c{c}.tif'; "
                                  "or FILE.h5:/dataset or STORE.zarr with a time axis")
    c.add_argument("-o", "--output", required=True, help="output .xml (the .h5 files go next to it)")
    c.add_argument("--input-dataset", help="dataset of an HDF5 source (or write FILE.h5:/path)")
    c.add_argument("--axes", help="axes of an HDF5/Zarr source, e.g. TZYX, TCZYX (default: its 'axes' attribute, "
                                  "else TZYX for 4-D, TCZYX for 5-D)")
    c.add_argument("--voxel-size", help="x,y,z voxel size (default: from the source, else 1,1,1)")
    c.add_argument("--unit", help="unit of the voxel size (default: from the source, else µm when given)")
    c.add_argument("--allow-gaps", action="store_true", help="accept missing time point numbers in a TIFF pattern")
    c.add_argument("-p", "--pipeline", default=DEFAULT_PIPELINE, help=f"pipeline (default: {DEFAULT_PIPELINE})")
    c.add_argument("--levels", type=int, help="at most this many pyramid levels (default: automatic, up to 8)")
    c.add_argument("--block", help="x,y,z block (chunk) size of every level (default: 64,64,<=64)")
    c.add_argument("--block-size", type=int, default=0, help="bytes per coded block, multiple of 1024 (0: default)")
    c.add_argument("-t", "--threads", type=int, default=1, help="filter threads per chunk inside each task (default 1)")
    g = c.add_argument_group("Dask")
    g.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786) or scheduler JSON file "
                                       "(default: a LocalCluster on this machine; \"in-process\": no Dask, one partition after the other)")
    g.add_argument("-w", "--workers", type=int, help="LocalCluster worker processes (default: the cores available)")
    g.add_argument("--threads-per-worker", type=int, default=1, help="LocalCluster threads per worker (default 1; "
                                                                    "HDF5 serialises threads within a process)")
    g.add_argument("--timepoints-per-partition", type=int, default=1, help="time points per task/file (default 1)")
    g.add_argument("--setups-per-partition", type=int, default=0, help="setups per task/file (0: all, default)")
    g.add_argument("--retries", type=int, default=1, help="retries of a failed task (default 1; a worker that "
                                                         "dies is handled by Dask without counting here)")
    c.add_argument("--recheck", action="store_true", help="decode partitions kept from a previous run again and "
                                                          "compare with their recorded checksums")
    c.add_argument("--dry-run", action="store_true", help="list what would be converted, convert nothing")
    c.add_argument("-f", "--force", action="store_true", help="rewrite all partitions and overwrite existing outputs")
    c.add_argument("-v", "--verbose", action="store_true", help="one line per partition")
    add_progress_options(c)
    c.set_defaults(func=run)
