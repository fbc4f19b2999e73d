#!/usr/bin/env python3
"""Write golden chunks (.sqz) and .h5 files of the current format version for every pipeline.

    python3 tests/golden/make_golden.py            # add what is missing, keep what exists
    python3 tests/golden/make_golden.py --list     # show what would be added
    python3 tests/golden/make_golden.py --force    # rewrite everything (only for a NEW format version)

Layout: tests/golden/v<format>/{chunks/*.sqz, h5/*.h5, manifest.json}. Data comes from
hardening_util.synthetic (seeded, no numpy RNG), so tests/test_golden.py can rebuild it,
decode every file and check that encoding the same data gives the identical bytes. Existing
goldens are a promise: never regenerate them with --force for a released format version. A
change of the bytes' meaning needs a new stage ID or format version (docs/FORMAT.md); a deliberate
change of an encoder's output within the format moves the old files to superseded/ (decoded
forever, not re-encoded) and a plain run adds today's (docs/HARDENING.md).
Pipelines come from the registry (every codec, every filter->codec), so after a stage lands
a plain run adds its goldens.
"""
import argparse
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for hardening_util

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import sqeazy_filter  # noqa: E402
from hardening_util import all_pipelines, param_variants, synthetic, try_encode  # noqa: E402

# (dtype, shape, block_size): several blocks, a 1-block chunk, odd sizes.
CHUNK_CASES = [("uint16", (3, 20, 24), 1024), ("uint8", (700,), 0), ("float32", (6, 50), 1024)]
# Extra dtypes, for the default pipeline only.
EXTRA_CASES = [("int8", (5, 64), 0), ("int16", (5, 64), 1024), ("uint32", (5, 64), 1024), ("int32", (5, 64), 0),
               ("uint16", (0,), 0), ("uint16", (1, 1, 1), 0)]
# One .h5 per pipeline: a 3-D uint16 stack in 2x2x1 chunks and a 2-D float32 image.
H5_DATASETS = [("stack_u16", "uint16", (4, 24, 30), (2, 12, 30), 1024), ("image_f32", "float32", (16, 40), (8, 40), 0)]


def slug(pipeline):
    return re.sub(r"[^A-Za-z0-9]+", "_", pipeline.replace("->", "__")).strip("_")


def sha(data):
    return hashlib.sha256(bytes(data)).hexdigest()


def seed_of(*parts):
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:6], 16)


def format_dir(root):
    return os.path.join(root, f"v{sqeazy_filter.config()['format_version']}")


def planned(skip=()):
    """Every golden the current registry calls for: (kind, relative path, description)."""
    default = sqeazy_filter.DEFAULT_PIPELINE
    for pipeline in all_pipelines(skip):
        cases = CHUNK_CASES + (EXTRA_CASES if pipeline == default else [])
        for dtype, shape, block in cases:
            name = f"{slug(pipeline)}__{dtype}_{'x'.join(map(str, shape))}_b{block}.sqz"
            yield "chunk", f"chunks/{name}", dict(pipeline=pipeline, dtype=dtype, shape=list(shape),
                                                  block_size=block, seed=seed_of(pipeline, dtype, shape))
        for variant in param_variants(pipeline)[1:]:  # stored parameters are part of the bytes
            dtype, shape, block = CHUNK_CASES[0]
            name = f"{slug(variant)}__{dtype}_{'x'.join(map(str, shape))}_b{block}.sqz"
            yield "chunk", f"chunks/{name}", dict(pipeline=variant, dtype=dtype, shape=list(shape),
                                                  block_size=block, seed=seed_of(variant, dtype, shape))
        yield "h5", f"h5/{slug(pipeline)}.h5", dict(pipeline=pipeline, datasets=[
            dict(name=n, dtype=dt, shape=list(sh), chunks=list(ch), block_size=b, seed=seed_of(pipeline, n))
            for n, dt, sh, ch, b in H5_DATASETS])


def make_chunk(path, d):
    data = synthetic(d["dtype"], tuple(d["shape"]), d["seed"])
    chunk = try_encode(data, d["pipeline"], block_size=d["block_size"])
    if chunk is None:
        return None
    with open(path, "wb") as f:
        f.write(chunk)
    return dict(d, pipeline=sqeazy_filter.info(chunk)["pipeline"], raw_sha256=sha(data.tobytes()),
                decoded_sha256=sha(sqeazy_filter.decode(chunk).tobytes()),  # differs for lossy stages
                chunk_sha256=sha(chunk), size=len(chunk))


def make_h5(path, d):
    """One file per pipeline; datasets whose dtype the pipeline refuses are left out."""
    tmp = path + ".tmp"
    kept = []
    with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
        for ds in d["datasets"]:
            data = synthetic(ds["dtype"], tuple(ds["shape"]), ds["seed"])
            try:
                f.create_dataset(ds["name"], data=data, chunks=tuple(ds["chunks"]), track_times=False,
                                 **sqeazy_filter.Sqeazy(d["pipeline"], block_size=ds["block_size"]))
            except (ValueError, OSError):
                if ds["name"] in f:
                    del f[ds["name"]]
                continue
            kept.append(dict(ds, raw_sha256=sha(data.tobytes())))
    if not kept:
        os.remove(tmp)
        return None
    with h5py.File(tmp, "r") as f:
        for ds in kept:
            ds["decoded_sha256"] = sha(f[ds["name"]][...].tobytes())
    os.replace(tmp, path)
    with open(path, "rb") as f:
        return dict(d, datasets=kept, file_sha256=sha(f.read()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=HERE)
    ap.add_argument("--force", action="store_true", help="overwrite existing goldens (new format versions only)")
    ap.add_argument("--list", action="store_true", help="only list the goldens that would be written")
    ap.add_argument("--skip-stage", action="append", default=[], help="leave out a stage (e.g. one still in development)")
    args = ap.parse_args(argv)
    out = format_dir(args.root)
    manifest_path = os.path.join(out, "manifest.json")
    manifest = {"format_version": sqeazy_filter.config()["format_version"], "files": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    added, kept, refused = [], 0, []
    for kind, rel, desc in planned(args.skip_stage):
        path = os.path.join(out, rel)
        if rel in manifest["files"] and os.path.exists(path) and not args.force:
            kept += 1
            continue
        if os.path.exists(path) and not args.force:
            sys.exit(f"{path} exists but is not in the manifest; refusing to overwrite (use --force only for a new format version)")
        if args.list:
            added.append(rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        entry = make_chunk(path, desc) if kind == "chunk" else make_h5(path, desc)
        if entry is None:
            refused.append(rel)
            continue
        manifest["files"][rel] = dict(entry, kind=kind)
        added.append(rel)
    if not args.list:
        manifest["files"] = dict(sorted(manifest["files"].items()))
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
    for rel in added:
        print(("would add " if args.list else "added ") + rel)
    for rel in refused:
        print(f"skipped {rel}: the pipeline refuses this dtype/shape")
    print(f"{out}: {len(added)} {'missing' if args.list else 'added'}, {kept} kept, {len(refused)} refused")


if __name__ == "__main__":
    main()
