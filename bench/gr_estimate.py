"""Would Golomb-Rice codes decode faster at huff's ratio? Estimates, no codec (docs/DESIGN.md,
"Speed (session 10)"). For every stack in ../shared/data: residuals of the (W + (N + NE)/2)/2
predictor (mode 5, planes as 2-D images), zigzag-mapped, in blocks of 256 KiB; then the bits of
  huff model: huff's 21 contexts from the row above, the zeroth-order entropy of its tokens per
             context and block plus the extra bits and a 336-byte table (what huff reaches, to
             within its Huffman rounding);
  GR:        a Golomb-Rice code per element with k chosen per block for each of 64 levels of the
             same activity (2 zN + zNW + zNE + zNWW + zNEE, from the row above), unary part capped
             at 24 then the raw value; 32 bytes of k per block;
  GR or huff per level: each level at the cheaper of its GR bits and its token entropy plus a
             32-byte table; and the share of elements in GR levels;
  huff, Huffman: huff's tokens and contexts again, each token at its Huffman code length;
  shift + T tables: per level a shift k and one of T Huffman tables, both from the level's mean
             (k = floor(log2(mean / m)), table = fraction of that log2 in T steps, m in 0.5-4
             tried per block), the quotient z >> k (escape at 32, then the raw value) at its
             code length in that table and the k remainder bits raw; 32 bytes of levels and
             40 bytes per table per block. Consecutive symbols of one table share it, which is
             what a decoder that resolves several symbols per look-up needs.
    python3 bench/gr_estimate.py [STACK ...]        (data: $SQEAZY_TEST_DATA or ../shared/data)
"""
import argparse
import heapq

import numpy as np

from common import machine, stacks


def ctx_of(act2):
    u = (act2 >> 1) + 1
    nb = np.floor(np.log2(u)).astype(np.int64)
    q = 2 * nb + np.where(nb > 0, (u >> np.maximum(nb - 1, 0)) & 1, 0)
    return np.minimum(q, 19)


def residuals(a):
    zs, acts = [], []
    for p in a.reshape(-1, a.shape[-2], a.shape[-1]).astype(np.int64):
        W = np.empty_like(p); W[:, 1:] = p[:, :-1]
        N = np.empty_like(p); N[1:] = p[:-1]
        W[0, 0] = 0; W[1:, 0] = N[1:, 0]; N[0] = W[0]
        NE = np.empty_like(p); NE[1:, :-1] = p[:-1, 1:]; NE[1:, -1] = p[:-1, -1]; NE[0] = N[0]
        r = p - (W + (N + NE) // 2) // 2
        z = np.where(r >= 0, 2 * r, -2 * r - 1)
        zN = np.zeros_like(z); zN[1:] = z[:-1]
        q = np.pad(zN, ((0, 0), (2, 2)), mode="edge")
        acts.append((2 * q[:, 2:-2] + q[:, 1:-3] + q[:, 3:-1] + q[:, :-4] + q[:, 4:]).ravel())
        zs.append(z.ravel())
    return np.concatenate(zs), np.concatenate(acts)


def tokens(z):
    """huff's tokens and the total of their extra bits"""
    nbz = np.floor(np.log2(np.maximum(z, 1))).astype(np.int64)
    tok = np.where(z < 16, z, 16 + (nbz - 4) * 4 + ((z >> np.maximum(nbz - 2, 0)) & 3))
    return tok, np.where(z < 16, 0, nbz - 2).sum()


def token_bits(z):
    """entropy of huff's tokens (bits) plus their extra bits"""
    tok, extra = tokens(z)
    cnt = np.bincount(tok)
    cnt = cnt[cnt > 0]
    return -(cnt * np.log2(cnt / z.size)).sum() + extra


def huffman_lengths(cnt, limit=None):
    """Huffman code lengths for the counts cnt; with limit, counts are halved until none is longer"""
    cnt = np.asarray(cnt, np.int64)
    while True:
        used = np.flatnonzero(cnt)
        length = np.zeros(cnt.size, np.int64)
        if used.size == 1:
            length[used] = 1
            return length
        heap = [(int(cnt[i]), int(i), [int(i)]) for i in used]
        heapq.heapify(heap)
        while len(heap) > 1:
            a, b = heapq.heappop(heap), heapq.heappop(heap)
            length[a[2] + b[2]] += 1
            heapq.heappush(heap, (a[0] + b[0], a[1], a[2] + b[2]))
        if limit is None or length.max() <= limit:
            return length
        cnt = np.where(cnt > 0, (cnt + 1) // 2, 0)


def huffman_bits(sym):
    """bits of sym under its own Huffman code (lengths not limited)"""
    cnt = np.bincount(sym)
    return int((cnt * huffman_lengths(cnt)).sum())


def shift_bits(zb, lvl, bits, n_tables, esc=32):
    """bits of the shift + shared tables code for one block (see the module's docstring)"""
    best = None
    for m in (0.5, 1, 2, 4):
        syms = [[] for _ in range(n_tables)]
        raw = 0
        for L in np.unique(lvl):
            zz = zb[lvl == L]
            x = max(np.log2((zz.mean() + 0.5) / m), 0.0)
            k = int(x)
            q = zz >> k
            syms[min(int((x - k) * n_tables), n_tables - 1)].append(np.minimum(q, esc))
            raw += k * zz.size + bits * int((q >= esc).sum())
        total = raw + sum(huffman_bits(np.concatenate(s)) for s in syms if s)
        best = total if best is None else min(best, total)
    return best + (32 + 40 * n_tables) * 8


def gr_bits(z, bits):
    """bits of the best Golomb-Rice code for z"""
    return min((np.minimum(z >> k, 24) + 1 + k + np.where((z >> k) >= 24, bits, 0)).sum() for k in range(bits))


def estimate(a):
    bits = 8 * a.dtype.itemsize
    z, act = residuals(a)
    blk = 256 * 1024 // a.dtype.itemsize
    huff = gr = hyb = huffman = 0.0
    shift = {1: 0.0, 4: 0.0}
    n_gr = 0
    for s in range(0, z.size, blk):
        zb, ab = z[s:s + blk], act[s:s + blk]
        c = ctx_of(ab)
        for cc in np.unique(c):
            zc = zb[c == cc]
            tok, extra = tokens(zc)
            huff += token_bits(zc)
            huffman += huffman_bits(tok) + extra
        huff += 336 * 8
        huffman += 336 * 8
        lvl = np.minimum((np.log2(ab + 1) * 4).astype(np.int64), 63)
        for t in shift:
            shift[t] += shift_bits(zb, lvl, bits, t)
        for L in np.unique(lvl):
            zz = zb[lvl == L]
            g = gr_bits(zz, bits)
            gr += g
            t = token_bits(zz) + 32 * 8
            hyb += min(g, t)
            n_gr += zz.size if g <= t else 0
        gr += 32 * 8
        hyb += 32 * 8
    raw = z.size * bits
    return raw / huff, raw / gr, raw / hyb, n_gr / z.size, raw / huffman, raw / shift[1], raw / shift[4]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="stacks (default: all)")
    args = ap.parse_args()
    print(f"Machine: {machine()}\n")
    print("| stack | huff model | GR | GR vs huff | GR or huff per level | elements in GR levels "
          "| huff, Huffman | shift + 1 table | shift + 4 tables | 4 tables vs huff, Huffman |")
    print("|---|" + "---:|" * 9)
    for name, a in stacks(args.names):
        h, g, y, share, hh, s1, s4 = estimate(a)
        print(f"| {name} | {h:.3f} | {g:.3f} | {g / h - 1:+.1%} | {y:.3f} | {share:.0%} "
              f"| {hh:.4f} | {s1:.4f} | {s4:.4f} | {s4 / hh - 1:+.2%} |", flush=True)


if __name__ == "__main__":
    main()
