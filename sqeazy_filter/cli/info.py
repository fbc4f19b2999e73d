"""sqeazy info: pipeline, ratio and chunk statistics of each dataset of an HDF5 file."""
import json
import os

import numpy as np

from ._common import CliError, human_bytes

SAMPLE_HEADERS = 16  # chunks whose header is read to list the pipelines


def _filters(ds):
    plist = ds.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        fid, _flags, values, name = plist.get_filter(i)
        out.append((int(fid), name.decode(errors="replace") if isinstance(name, bytes) else str(name), tuple(values)))
    return out


def dataset_report(name, ds):
    """A dict describing one dataset: shape, filters and, for sqeazy, ratio and chunk statistics."""
    from .. import FILTER_ID, info
    report = {"dataset": "/" + name.lstrip("/"), "dtype": str(ds.dtype), "shape": list(ds.shape),
              "chunks": list(ds.chunks) if ds.chunks else None}
    filters = _filters(ds) if ds.chunks else []
    report["filters"] = [f"{fid} ({fname})" for fid, fname, _ in filters]
    report["sqeazy"] = any(fid == FILTER_ID for fid, _, _ in filters)
    raw_total = ds.dtype.itemsize * int(np.prod(ds.shape)) if ds.shape else ds.dtype.itemsize
    report["raw_bytes"] = raw_total
    report["stored_bytes"] = int(ds.id.get_storage_size())
    report["ratio"] = raw_total / report["stored_bytes"] if report["stored_bytes"] else None
    if not ds.chunks:
        return report
    sizes, masks, offsets = [], [], []
    if hasattr(ds.id, "chunk_iter"):
        def visit(ci):
            sizes.append(ci.size)
            masks.append(ci.filter_mask)
            offsets.append(ci.chunk_offset)
        ds.id.chunk_iter(visit)
    else:  # pragma: no cover - old HDF5
        for i in range(ds.id.get_num_chunks()):
            ci = ds.id.get_chunk_info(i)
            sizes.append(ci.size)
            masks.append(ci.filter_mask)
            offsets.append(ci.chunk_offset)
    chunk_raw = ds.dtype.itemsize * int(np.prod(ds.chunks))
    n_total = int(np.prod([-(-s // c) for s, c in zip(ds.shape, ds.chunks)]))
    report["chunk_raw_bytes"] = chunk_raw
    report["chunks_stored"] = len(sizes)
    report["chunks_total"] = n_total
    report["chunks_unfiltered"] = int(sum(1 for m in masks if m))
    if sizes:
        s = np.asarray(sizes, dtype=np.float64)
        report["chunk_stored_bytes"] = {"min": int(s.min()), "median": float(np.median(s)), "max": int(s.max())}
        r = chunk_raw / np.maximum(s, 1)
        report["chunk_ratio"] = {"min": float(r.min()), "median": float(np.median(r)), "max": float(r.max())}
        # ratio over the chunks actually stored (unwritten chunks cost nothing and read as fill value)
        report["ratio_stored_chunks"] = chunk_raw * len(sizes) / max(1.0, float(s.sum()))
    if report["sqeazy"] and sizes:
        pipelines, blocks = {}, set()
        step = max(1, len(offsets) // SAMPLE_HEADERS)
        for off, mask in list(zip(offsets, masks))[::step][:SAMPLE_HEADERS]:
            if mask:
                continue
            _, data = ds.id.read_direct_chunk(off)
            try:
                meta = info(data)
            except Exception as exc:  # noqa: BLE001 - a damaged chunk is reported, not fatal
                pipelines.setdefault(f"<unreadable chunk at {tuple(off)}: {exc}>", 0)
                continue
            pipelines[meta["pipeline"]] = pipelines.get(meta["pipeline"], 0) + 1
            blocks.add((meta["n_blocks"], meta["block_elems"]))
        report["pipelines"] = sorted(pipelines)
        report["blocks_per_chunk"] = sorted(b[0] for b in blocks)
        report["block_elems"] = sorted(b[1] for b in blocks)
    return report


def file_report(path):
    import h5py
    from .. import register
    from ..io import is_hdf5
    register()
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    if not is_hdf5(path):
        raise CliError(f"{path}: not an HDF5 file")
    reports = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                reports.append(dataset_report(name, obj))
        f.visititems(visit)
    return {"file": path, "file_bytes": os.path.getsize(path), "datasets": reports}


def _print(report, all_datasets):
    print(f"{report['file']}  ({human_bytes(report['file_bytes'])})")
    shown = 0
    for r in report["datasets"]:
        if not all_datasets and not r["sqeazy"] and (r["raw_bytes"] < 4096):
            continue
        shown += 1
        shape = "x".join(str(s) for s in r["shape"]) or "scalar"
        print(f"{r['dataset']}: {r['dtype']} {shape}", end="")
        if r["chunks"]:
            print(f"  chunks {'x'.join(str(c) for c in r['chunks'])}", end="")
        print()
        if r["sqeazy"]:
            print(f"  pipeline      {', '.join(r.get('pipelines') or ['?'])}")
        elif r["filters"]:
            print(f"  filters       {', '.join(r['filters'])} (not sqeazy)")
        else:
            print("  filters       none")
        ratio = f"{r['ratio']:.3f}" if r["ratio"] else "-"
        print(f"  size          {human_bytes(r['raw_bytes'])} raw -> {human_bytes(r['stored_bytes'])} stored, "
              f"ratio {ratio}")
        if r.get("chunks_total"):
            line = f"  chunks        {r['chunks_stored']} of {r['chunks_total']} stored"
            if r["chunks_unfiltered"]:
                line += f", {r['chunks_unfiltered']} stored without the filter"
            print(line)
        if r.get("chunk_ratio"):
            cr, cs = r["chunk_ratio"], r["chunk_stored_bytes"]
            print(f"  chunk ratio   min {cr['min']:.2f}  median {cr['median']:.2f}  max {cr['max']:.2f}   "
                  f"(stored {human_bytes(cs['min'])} .. {human_bytes(cs['max'])} of "
                  f"{human_bytes(r['chunk_raw_bytes'])})")
        if r.get("blocks_per_chunk"):
            print(f"  blocks/chunk  {', '.join(str(b) for b in r['blocks_per_chunk'])} "
                  f"({', '.join(str(b) for b in r['block_elems'])} elements each)")
    if not shown:
        print("  no image datasets (use --all to list every dataset)")


def run(args):
    report = file_report(args.file)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, args.all)


def add_parser(sub):
    i = sub.add_parser("info", help="pipeline, ratio and chunk statistics of each dataset of an HDF5 file")
    i.add_argument("file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.add_argument("--all", action="store_true", help="also list small non-sqeazy datasets")
    i.set_defaults(func=run)
