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
             32-byte table; and the share of elements in GR levels.
    python3 bench/gr_estimate.py [STACK ...]        (data: $SQEAZY_TEST_DATA or ../shared/data)
"""
import argparse

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


def token_bits(z):
    """entropy of huff's tokens (bits) plus their extra bits"""
    nbz = np.floor(np.log2(np.maximum(z, 1))).astype(np.int64)
    tok = np.where(z < 16, z, 16 + (nbz - 4) * 4 + ((z >> np.maximum(nbz - 2, 0)) & 3))
    cnt = np.bincount(tok)
    cnt = cnt[cnt > 0]
    return -(cnt * np.log2(cnt / z.size)).sum() + np.where(z < 16, 0, nbz - 2).sum()


def gr_bits(z, bits):
    """bits of the best Golomb-Rice code for z"""
    return min((np.minimum(z >> k, 24) + 1 + k + np.where((z >> k) >= 24, bits, 0)).sum() for k in range(bits))


def estimate(a):
    bits = 8 * a.dtype.itemsize
    z, act = residuals(a)
    blk = 256 * 1024 // a.dtype.itemsize
    huff = gr = hyb = 0.0
    n_gr = 0
    for s in range(0, z.size, blk):
        zb, ab = z[s:s + blk], act[s:s + blk]
        c = ctx_of(ab)
        huff += sum(token_bits(zb[c == cc]) for cc in np.unique(c)) + 336 * 8
        lvl = np.minimum((np.log2(ab + 1) * 4).astype(np.int64), 63)
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
    return raw / huff, raw / gr, raw / hyb, n_gr / z.size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="stacks (default: all)")
    args = ap.parse_args()
    print(f"Machine: {machine()}\n")
    print("| stack | huff model | GR | GR vs huff | GR or huff per level | elements in GR levels |\n|---|---:|---:|---:|---:|---:|")
    for name, a in stacks(args.names):
        h, g, y, share = estimate(a)
        print(f"| {name} | {h:.3f} | {g:.3f} | {g / h - 1:+.1%} | {y:.3f} | {share:.0%} |")


if __name__ == "__main__":
    main()
