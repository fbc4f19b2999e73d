"""Command line: plugin-path, config, h5repack-filter, info."""
import argparse
import json
import sys


def _plugin_path(args):
    from . import plugin_path
    print(plugin_path())


def _config(args):
    from . import config
    print(json.dumps(config(), indent=2, default=str))


def _h5repack_filter(args):
    from . import FILTER_ID, cd_values
    values = cd_values(args.pipeline, args.threads, args.block_size)
    print(f"UD={FILTER_ID},0,{len(values)}," + ",".join(str(v) for v in values))


def _info(args):
    import h5py
    import numpy as np
    from . import FILTER_ID, info
    with h5py.File(args.file, "r") as f:
        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset) or obj.chunks is None:
                return
            filters = obj.id.get_create_plist()
            ids = [filters.get_filter(i)[0] for i in range(filters.get_nfilters())]
            if FILTER_ID not in ids:
                print(f"{name}: {obj.dtype} {obj.shape} chunks={obj.chunks} (not sqeazy: filters {ids})")
                return
            stored = raw = 0
            pipeline = "?"
            n = obj.id.get_num_chunks()
            for i in range(n):
                ci = obj.id.get_chunk_info(i)
                mask, data = obj.id.read_direct_chunk(ci.chunk_offset)
                stored += len(data)
                if mask == 0:
                    meta = info(data)
                    raw += meta["raw_size"]
                    pipeline = meta["pipeline"]
                else:
                    raw += len(data)
            ratio = raw / stored if stored else float("nan")
            print(f"{name}: {obj.dtype} {obj.shape} chunks={obj.chunks} pipeline={pipeline} "
                  f"chunks_stored={n} raw={raw} stored={stored} ratio={ratio:.3f}")
        f.visititems(visit)


def build_parser():
    p = argparse.ArgumentParser(prog="sqeazy", description="Sqeazy HDF5 compression filter (ID 34075).")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("plugin-path", help="print the directory for HDF5_PLUGIN_PATH").set_defaults(func=_plugin_path)
    sub.add_parser("config", help="print what this build has (JSON)").set_defaults(func=_config)
    r = sub.add_parser("h5repack-filter", help="print the h5repack -f argument for a pipeline")
    r.add_argument("pipeline", nargs="?", default="bitshuffle->lz4")
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--block-size", type=int, default=0)
    r.set_defaults(func=_h5repack_filter)
    i = sub.add_parser("info", help="pipeline and ratio of each dataset of an HDF5 file")
    i.add_argument("file")
    i.set_defaults(func=_info)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as exc:
        print(f"sqeazy: error: {exc}", file=sys.stderr)
        return 2
    return 0
