"""Would a Huffman back-end reach issue 4's ratios on wnl level indices? Estimates, not a codec.

Builds the wnl level table (docs/LOSSY.md) for the estimated camera, maps the stack to level
indices and prints, for q = 1 and 2, ratios (16 bits / cost per element; stack-wide tables, no
table overhead) of:
  - nlcode's model: its 8-tap predictor in 1/16 units, mirrored residuals, 108 contexts, entropy;
  - the same predictor and mirror with huff's 21 contexts from the row above, entropy and Huffman;
  - the same with one table (Huffman);
  - mode 5 ((W + (N + NE)/2)/2, the lossless default's) with 21 row-above contexts (Huffman).
    python3 bench/wnl_entropy.py [lls_rbc_raw]
"""
import heapq
import math
import sys
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sqeazy_filter.lossy import estimate_camera  # noqa: E402

from common import DATA  # noqa: E402


def level_indices(a, q, cam):
    off, g, rn = cam["offset"], cam["gain"], cam["read_noise"]

    def bound(v):
        return q / 2 * math.sqrt(g * max(v - off, 0) + (g * rn) ** 2)

    idx, n, v = np.zeros(65536, np.int64), 0, 0
    while v < 65536:
        y, u = v + math.floor(bound(v)), v
        while u < 65536 and (u <= y or u - y <= bound(u)):
            idx[u] = n
            u += 1
        n, v = n + 1, u
    return idx[a]


def shifted(a, dy, dx):
    """neighbour (y - dy, x - dx), edges replicated"""
    p = np.pad(a, ((0, 0), (2, 0), (2, 2)), mode="edge")
    return p[:, 2 - dy:2 - dy + a.shape[1], 2 - dx:2 - dx + a.shape[2]]


def zigzag(r):
    return np.where(r >= 0, 2 * r, -2 * r - 1)


def row_above_context(z):
    act = 2 * shifted(z, 1, 0) + shifted(z, 1, 1) + shifted(z, 1, -1) + shifted(z, 1, 2) + shifted(z, 1, -2)
    return np.minimum(np.floor(np.log2(act + 1) * 3).astype(np.int64), 20)


def entropy(sym, ctx):
    key = ctx.ravel() * 65536 + np.minimum(sym.ravel(), 65535)
    u, c = np.unique(key, return_counts=True)
    tot = np.bincount(u // 65536, weights=c)
    return -(c * np.log2(c / tot[u // 65536])).sum() / sym.size


def huffman_bits(counts):
    counts = counts[counts > 0]
    if len(counts) < 2:
        return 0.0
    heap, groups, lengths = [(c, i) for i, c in enumerate(counts)], {i: [i] for i in range(len(counts))}, np.zeros(len(counts))
    heapq.heapify(heap)
    nxt = len(counts)
    while len(heap) > 1:
        (c1, i1), (c2, i2) = heapq.heappop(heap), heapq.heappop(heap)
        g = groups.pop(i1) + groups.pop(i2)
        lengths[g] += 1
        groups[nxt] = g
        heapq.heappush(heap, (c1 + c2, nxt))
        nxt += 1
    return float((counts * lengths).sum())


def huffman(sym, ctx):
    sym, ctx = sym.ravel(), ctx.ravel()
    return sum(huffman_bits(np.bincount(sym[ctx == c])) for c in np.unique(ctx)) / sym.size


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "lls_rbc_raw"
    a = tifffile.imread(f"{DATA}/{name}.tif")
    cam = estimate_camera(a)
    print(f"{name}, camera {cam}")
    print("| q | nlcode model (entropy) | nlcode predictor, 21 row-above contexts: entropy / Huffman | one table: Huffman | mode 5, 21 contexts: Huffman |")
    print("|---:|---:|---:|---:|---:|")
    for q in (1, 2):
        v = level_indices(a, q, cam)
        W, N, NW, NE = shifted(v, 0, 1), shifted(v, 1, 0), shifted(v, 1, 1), shifted(v, 1, -1)
        WW, NN, NWW, NEE = shifted(v, 0, 2), shifted(v, 2, 0), shifted(v, 1, 2), shifted(v, 1, -2)
        s = np.maximum(6 * W + 3 * N + NW + 3 * NE + 3 * WW + 3 * NEE - 2 * NN - NWW, 0)
        fp, f = s >> 4, s & 15
        mirror = f > 8
        z = zigzag(np.where(mirror, fp + 1 - v, v - fp))
        cf = np.where(mirror, 16 - f, f)
        g = abs(W - NW) + abs(N - NW) + abs(N - NE) + abs(W - WW) + abs(N - NN)
        act = np.searchsorted(np.array([1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45]), g, side="right")
        ctx = row_above_context(z)
        z5 = zigzag(v - (W + (N + NE) // 2) // 2)
        print(f"| {q} | {16 / entropy(z, cf * 12 + act):.3f} | {16 / entropy(z, ctx):.3f} / {16 / huffman(z, ctx):.3f} "
              f"| {16 / huffman(z, np.zeros_like(z)):.3f} | {16 / huffman(z5, row_above_context(z5)):.3f} |")


if __name__ == "__main__":
    main()
