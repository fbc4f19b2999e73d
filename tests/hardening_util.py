"""Helpers shared by the hardening suites (golden, fuzz corpus, integrity, threads, memory).

An independent Python reading of docs/FORMAT.md: the SQH32 checksum and the chunk layout,
so tests can craft chunks (valid ones with odd fields, or corrupt ones with correct
checksums) without trusting the C code they test. Pipelines are enumerated from the
stage registry (``sqeazy_filter.stages()``), so every suite picks up new stages.
"""
import os
import struct
import subprocess
import sys

import numpy as np

import sqeazy_filter

P1, P2, P3, P4, P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
M32 = 0xFFFFFFFF
FIXED = 32
ENTRY = 12
STORED = 0x80000000
DTYPE_CODES = {"uint8": 1, "int8": 2, "uint16": 3, "int16": 4, "uint32": 5, "int32": 6, "float32": 7}
DTYPE_NAMES = {v: k for k, v in DTYPE_CODES.items()}


def _rotl(x, r):
    return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & np.uint64(M32)


def sqh32(data):
    """SQH32 of docs/FORMAT.md, written from the spec (numpy, 64 lanes)."""
    data = bytes(data)
    n = len(data)
    acc = (np.uint64(P5) + np.arange(64, dtype=np.uint64) * np.uint64(P1)) & np.uint64(M32)
    if n:
        words = np.frombuffer(data + b"\0" * (-n % 256), dtype="<u4").astype(np.uint64).reshape(-1, 64)
        for row in words:
            acc = (_rotl((acc + row * np.uint64(P2)) & np.uint64(M32), 13) * np.uint64(P1)) & np.uint64(M32)
    h = ((n & M32) * P5 + (n >> 32)) & M32
    for lane in acc.tolist():
        x = (h + lane * P3) & M32
        h = (((x << 17) | (x >> 15)) & M32) * P4 & M32
    h ^= h >> 15
    h = h * P2 & M32
    h ^= h >> 13
    h = h * P3 & M32
    h ^= h >> 16
    return h


class Chunk:
    """A chunk split into its fields (docs/FORMAT.md); ``to_bytes`` can refresh the checksums."""

    def __init__(self, data):
        data = bytes(data)
        if len(data) < FIXED or data[:4] != b"SQZC":
            raise ValueError("not a sqeazy chunk")
        (self.magic, self.version, self.dtype, self.ndim, self.flags, self.raw_size, self.block_elems,
         self.n_blocks, self.pipeline_size, self.reserved, self.header_checksum) = struct.unpack_from(
            "<4sBBBBQIIHHI", data, 0)
        at = FIXED
        self.shape = list(struct.unpack_from(f"<{self.ndim}I", data, at))
        at += 4 * self.ndim
        self.pipeline = data[at:at + self.pipeline_size]
        at += self.pipeline_size
        self.table = [list(struct.unpack_from("<III", data, at + ENTRY * i)) for i in range(self.n_blocks)]
        at += ENTRY * self.n_blocks
        self.header_size = at
        self.blocks = []
        for entry in self.table:
            size = entry[0] & ~STORED
            self.blocks.append(data[at:at + size])
            at += size
        self.tail = data[at:]

    def header_bytes(self, checksum=None):
        fixed = struct.pack("<4sBBBBQIIHHI", self.magic, self.version, self.dtype, self.ndim, self.flags,
                            self.raw_size, self.block_elems, self.n_blocks, self.pipeline_size, self.reserved,
                            0 if checksum is None else checksum)
        rest = struct.pack(f"<{len(self.shape)}I", *self.shape) + self.pipeline
        rest += b"".join(struct.pack("<III", *e) for e in self.table)
        return fixed, rest

    def to_bytes(self, fix=True):
        """Serialize; with fix, recompute stored sizes, stored-bytes hashes and the header checksum
        (the decoded-bytes hashes are left as they are)."""
        if fix:
            for entry, blk in zip(self.table, self.blocks):
                entry[0] = (entry[0] & STORED) | len(blk)
                entry[2] = sqh32(blk)
        fixed, rest = self.header_bytes()
        checksum = (sqh32(fixed) ^ sqh32(rest)) if fix else self.header_checksum
        fixed, rest = self.header_bytes(checksum)
        return fixed + rest + b"".join(self.blocks) + self.tail


def stage_kinds():
    """{name: 'filter' | 'codec'} for every registered stage (a filter alone gets '->raw')."""
    kinds = {}
    for name in sqeazy_filter.stages():
        canon = sqeazy_filter.canonical_pipeline(name)
        kinds[name] = "codec" if canon == name else "filter"
    return kinds


def lossy_stages():
    """Stages whose decode may differ from the input (flagged lossy in the registry)."""
    return set(sqeazy_filter.stages(lossy=True))


def is_lossy(pipeline):
    return sqeazy_filter.is_lossy(pipeline)


def all_pipelines(skip=()):
    """Every codec alone, and every filter followed by every codec, in registry order
    (stages named in skip left out). Callers skip a pipeline that refuses a dtype (ValueError)."""
    kinds = {n: k for n, k in stage_kinds().items() if n not in skip}
    codecs = [n for n, k in kinds.items() if k == "codec"]
    filters = [n for n, k in kinds.items() if k == "filter"]
    out = list(codecs)
    out += [f"{f}->{c}" for f in filters for c in codecs]
    return out


def param_variants(pipeline):
    """The pipeline plus, for each stage that takes a positional parameter, one non-default value
    (found by asking the parser, so stages that land later are covered)."""
    out = [pipeline]
    stages = pipeline.split("->")
    for i, st in enumerate(stages):
        for value in ("3", "2", "-1"):
            text = "->".join(stages[:i] + [f"{st}({value})"] + stages[i + 1:])
            try:
                canon = sqeazy_filter.canonical_pipeline(text)
            except ValueError:
                continue
            if canon not in out:
                out.append(canon)
            break
    return out


REFUSALS = (ValueError,)


def try_encode(array, pipeline, **kw):
    """encode(), or None when the pipeline refuses this dtype/shape with a ValueError."""
    try:
        return sqeazy_filter.encode(array, pipeline, **kw)
    except REFUSALS:
        return None


def synthetic(dtype, shape, seed):
    """Deterministic, version-independent test data (no numpy RNG: its streams may change).
    A smooth camera-like background plus a 64-bit LCG noise, clipped to the dtype."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    i = np.arange(n, dtype=np.uint64)
    state = (i * np.uint64(6364136223846793005) + np.uint64(1442695040888963407 + seed * 7919)) & np.uint64(2**64 - 1)
    state ^= state >> np.uint64(29)
    state = (state * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(2**64 - 1)
    noise = (state >> np.uint64(40)).astype(np.int64) % 17
    base = (np.arange(n, dtype=np.int64) % max(int(shape[-1]), 1)) * 3 + 100 + seed % 251
    v = base + noise
    if dtype.kind == "f":
        return (v.astype(np.float32) * np.float32(0.25)).reshape(shape)
    info = np.iinfo(dtype)
    return np.clip(v, info.min, info.max).astype(dtype).reshape(shape)


def under_asan():
    return "asan" in os.environ.get("LD_PRELOAD", "")


def run_python(code, env=None, timeout=300):
    """Run code in a fresh interpreter with this environment (plus env); returns CompletedProcess."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=timeout)
