#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets from real encodes (tests/fuzz/corpus/<target>/).

    python3 tests/fuzz/make_corpus.py [--out DIR] [--force]

Pipelines come from the stage registry (sqeazy_filter.stages()), so running this again after a
stage lands adds its seeds; existing files are kept unless --force. Everything is
deterministic (fixed seeds, no numpy RNG). tests/fuzz/run.sh also runs it into its working
corpus, so new stages are fuzzed even before their seeds are committed.

decode_fuzz seeds: valid chunks of every pipeline (a few dtypes, several blocks), damaged
copies (bit flips, truncations, extra bytes, edited size fields with fixed checksums) and
cd_values words (user form and full form). round_trip_fuzz seeds: the input layout of
round_trip_fuzz.c for every pipeline, with parameter variants where a stage takes one.
"""
import argparse
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for hardening_util

import numpy as np  # noqa: E402

import sqeazy_filter  # noqa: E402
from hardening_util import DTYPE_CODES, Chunk, all_pipelines, param_variants, synthetic, try_encode  # noqa: E402

ROUND_TRIP_DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"]


def slug(pipeline):
    return re.sub(r"[^A-Za-z0-9]+", "_", pipeline.replace("->", "__")).strip("_")


def cd_words_bytes(words):
    return b"".join(struct.pack("<I", w & 0xFFFFFFFF) for w in words)


def full_form(pipeline, dtype_code, shape, threads=0, block_kib=0):
    text = sqeazy_filter.canonical_pipeline(pipeline).encode()
    padded = text + b"\0" * (-len(text) % 4)
    words = [0x5351 << 16 | 1 << 8 | len(shape), 100, dtype_code | threads << 8 | block_kib << 16]
    words += list(shape) + [len(text)]
    words += [int.from_bytes(padded[i:i + 4], "little") for i in range(0, len(padded), 4)]
    return words


def decode_seeds(skip=()):
    seeds = {}
    cases = [("uint16", (4, 160)), ("uint8", (1100,)), ("float32", (3, 5, 20))]
    for p_i, pipeline in enumerate(all_pipelines(skip)):
        s = slug(pipeline)
        for c_i, (dtype, shape) in enumerate(cases):
            data = synthetic(dtype, shape, seed=p_i * 7 + c_i)
            chunk = try_encode(data, pipeline, block_size=1024)
            if chunk is None:
                continue
            seeds[f"{s}_{dtype}.sqz"] = chunk
            if c_i:
                continue
            # damaged copies of the first case
            n = len(chunk)
            for k, pos in enumerate((5, n // 3, n - 2)):
                b = bytearray(chunk)
                b[pos] ^= 1 << (k + pos) % 8
                seeds[f"{s}_flip{k}.sqz"] = bytes(b)
            seeds[f"{s}_trunc.sqz"] = chunk[: n * 2 // 3]
            seeds[f"{s}_extra.sqz"] = chunk + b"\0\0\0"
            for field, value in (("raw_size", 1 << 40), ("block_elems", 1 << 29), ("n_blocks", 1),
                                 ("block_elems_small", 1)):
                ch = Chunk(chunk)
                setattr(ch, field.replace("_small", ""), value)
                seeds[f"{s}_fixed_{field}.sqz"] = ch.to_bytes()
        words = sqeazy_filter.cd_values(pipeline)
        seeds[f"{s}_cd_user.bin"] = cd_words_bytes(words)
        seeds[f"{s}_cd_full.bin"] = cd_words_bytes(full_form(pipeline, DTYPE_CODES["uint16"], (32, 64), 2, 1))
    seeds["empty_chunk.sqz"] = sqeazy_filter.encode(np.zeros((0,), np.uint16))
    seeds["not_sqeazy.bin"] = b"\x89HDF\r\n\x1a\n" + bytes(range(40))
    seeds["cd_bad_text.bin"] = cd_words_bytes([0, 7, 0x65706F6E, 0x00787878])
    return seeds


def round_trip_seed(dtype, ndim, d1, d2, block_kib, pipeline, data):
    b0 = (DTYPE_CODES[dtype] - 1) + 7 * (ndim - 1)
    text = pipeline.encode()
    return bytes([b0, d1 - 1, d2 - 1, block_kib, len(text)]) + text + data.tobytes()


def round_trip_seeds(skip=()):
    seeds = {}
    for p_i, base in enumerate(all_pipelines(skip)):
        for v_i, pipeline in enumerate(param_variants(base)):
            for k, dtype in enumerate(ROUND_TRIP_DTYPES[v_i % 2::2] if v_i else ROUND_TRIP_DTYPES[:3]):
                ndim = 1 + (k + p_i) % 3
                data = synthetic(dtype, (300 + 37 * k,), seed=p_i + k)
                seeds[f"{slug(pipeline)}_{dtype}_{ndim}d.bin"] = round_trip_seed(
                    dtype, ndim, 3 + k, 2 + p_i % 5, 1 + (k % 2), pipeline, data)
    seeds["default_pipeline_u16.bin"] = round_trip_seed("uint16", 3, 4, 5, 0, "", synthetic("uint16", (900,), 3))
    seeds["empty_data.bin"] = round_trip_seed("uint16", 2, 4, 1, 1, "bitshuffle->lz4", np.zeros(0, np.uint16))
    return seeds


def dictionary():
    tokens = set(sqeazy_filter.stages()) | {"->", "(", ")", "=", ",", "level=", "acceleration=", "-1", "22"}
    return "".join(f'"{t}"\n' for t in sorted(tokens))


def write(path, data, force):
    if os.path.exists(path) and not force:
        return False
    with open(path, "wb") as f:
        f.write(data)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"), help="corpus root (default: tests/fuzz/corpus)")
    ap.add_argument("--force", action="store_true", help="overwrite existing seeds")
    ap.add_argument("--skip-stage", action="append", default=[], help="leave out a stage (e.g. one not yet committed)")
    args = ap.parse_args(argv)
    added = kept = 0
    for target, seeds in (("decode_fuzz", decode_seeds(args.skip_stage)),
                         ("round_trip_fuzz", round_trip_seeds(args.skip_stage))):
        d = os.path.join(args.out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            if write(os.path.join(d, name), data, args.force):
                added += 1
            else:
                kept += 1
    write(os.path.join(args.out, "round_trip_fuzz.dict"), dictionary().encode(), True)
    print(f"corpus {args.out}: {added} seeds written, {kept} kept")


if __name__ == "__main__":
    main()
