"""The `sqeazy` command line (also `python -m sqeazy_filter`): compress, decompress, info, bench, bdv, convert,
plugin-path, config, h5repack-filter. Each command lives in its own module here; this one builds
the parser and turns every user-fixable failure into one line on stderr and exit status 2."""
import argparse
import json
import os
import sys

from ._common import CliError


def _plugin_path(args):
    from .. import plugin_path
    print(plugin_path())


def _config(args):
    from .. import config
    print(json.dumps(config(), indent=2, default=str))


def _h5repack_filter(args):
    from .. import FILTER_ID, cd_values
    values = cd_values(args.pipeline, args.threads, args.block_size)
    print(f"UD={FILTER_ID},0,{len(values)}," + ",".join(str(v) for v in values))


def build_parser():
    from .. import DEFAULT_PIPELINE, __version__
    from . import bdv, bench, convert, info, timelapse
    p = argparse.ArgumentParser(
        prog="sqeazy", description="Sqeazy compression for light-sheet microscopy: HDF5 filter 34075.",
        epilog="Other HDF5 programs read the files with HDF5_PLUGIN_PATH=$(sqeazy plugin-path).")
    p.add_argument("--version", action="version", version=f"sqeazy_filter {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    convert.add_parsers(sub)
    info.add_parser(sub)
    bench.add_parser(sub)
    bdv.add_parser(sub)
    timelapse.add_parser(sub)
    sub.add_parser("plugin-path", help="print the directory for HDF5_PLUGIN_PATH").set_defaults(func=_plugin_path)
    sub.add_parser("config", help="print what this build has (JSON)").set_defaults(func=_config)
    r = sub.add_parser("h5repack-filter", help="print the h5repack -f argument for a pipeline")
    r.add_argument("pipeline", nargs="?", default=DEFAULT_PIPELINE)
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--block-size", type=int, default=0)
    r.set_defaults(func=_h5repack_filter)
    return p


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 user error, 3 internal error, 130 interrupted)."""
    from .. import SqeazyError
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CliError, ValueError, OSError, SqeazyError, KeyError) as exc:
        msg = str(exc).strip("'\"") or type(exc).__name__
        print(f"sqeazy: error: {msg}", file=sys.stderr)
        if os.environ.get("SQEAZY_DEBUG"):
            raise
        return 2
    except KeyboardInterrupt:
        print("sqeazy: interrupted; no output was written", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback on request
        print(f"sqeazy: internal error: {type(exc).__name__}: {exc} (set SQEAZY_DEBUG=1 for the traceback)",
              file=sys.stderr)
        if os.environ.get("SQEAZY_DEBUG"):
            raise
        return 3
    return 0
