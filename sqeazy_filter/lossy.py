"""Lossy coding within the noise: camera model, calibration from the data, and error metrics.

Camera model (ADU = analogue-digital units, e- = photo-electrons):
    value = offset + gain * electrons,  sigma(value)^2 = gain * max(value - offset, 0) + (gain * read_noise)^2
The `wnl` stage guarantees |decoded - original| <= q/2 * sigma(original) for every pixel.
"""
import math

import numpy as np

CAMERA_KEYS = ("offset", "gain", "read_noise")


def noise_sigma(values, offset, gain, read_noise):
    """sigma(value) in ADU under the camera model (int16 data is read as uint16, as in BigDataViewer)."""
    v = _as_counts(np.asarray(values)).astype(np.float64)
    return np.sqrt(gain * np.maximum(v - offset, 0) + (gain * read_noise) ** 2)


def _as_counts(a):
    return a.view(np.uint16) if a.dtype == np.int16 else a


def _number(name, value, low, high, strict_low=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(v) or v < low or v > high or (strict_low and v <= low):
        raise ValueError(f"{name}={value!r} is outside {'(' if strict_low else '['}{low:g}, {high:g}]")
    return v


def wnl_stage(q, offset, gain, read_noise):
    """The pipeline text of a wnl stage, its parameters checked."""
    q = _number("q", q, 0, 1000, strict_low=True)
    offset = _number("offset", offset, 0, 65535)
    gain = _number("gain", gain, 1e-6, 1e6)
    read_noise = _number("read_noise", read_noise, 0, 1e6)
    return f"wnl(q={q:.17g},offset={offset:.17g},gain={gain:.17g},read_noise={read_noise:.17g})"


LOSSY_BACKEND = "nlcode16"  # codec for wnl level indices (docs/FORMAT.md, "nlcode")


def lossy_pipeline(q, camera, then=None):
    """`wnl(...)` followed by a lossless pipeline for the level indices (default: LOSSY_BACKEND)."""
    missing = [k for k in CAMERA_KEYS if k not in camera]
    if missing:
        raise ValueError(f"camera parameters missing: {', '.join(missing)} (estimate them with estimate_camera(stack))")
    return wnl_stage(q, camera["offset"], camera["gain"], camera["read_noise"]) + "->" + (then or LOSSY_BACKEND)


def estimate_camera(stack, tile=8, max_pixels=20_000_000):
    """Estimate offset (ADU), gain (ADU/e-) and read_noise (e-) from a stack itself.

    Photon transfer: the noise variance of small tiles (from second differences along x, which
    cancel smooth structure) grows linearly with their mean; the slope is the gain. The darkest
    tiles give the offset and the variance floor, the read noise. Parameters in the form the
    `wnl` stage takes. With dark background (no photons) the offset is the camera's; with a
    photon background it is that background level, which gives the same sigma(value) above it.
    """
    a = _as_counts(np.asarray(stack))
    if a.dtype.kind not in "ui" or a.ndim < 2:
        raise ValueError(f"estimate_camera needs an integer image or stack of 2 or more dimensions, not {a.dtype} {a.shape}")
    a = a.reshape((-1,) + a.shape[-2:])
    step = max(1, int(a.size // max_pixels))
    a = a[::step].astype(np.float64)
    ny, nx = (a.shape[1] // tile) * tile, ((a.shape[2] - 2) // tile) * tile
    if ny < tile or nx < tile:
        raise ValueError(f"planes of {a.shape[1:]} are too small to estimate noise")
    d = a[:, :ny, 1:nx + 1] - 0.5 * (a[:, :ny, 0:nx] + a[:, :ny, 2:nx + 2])   # var(d) = 1.5 sigma^2
    x = a[:, :ny, 1:nx + 1]

    def tiles(v):
        return v.reshape(v.shape[0], ny // tile, tile, nx // tile, tile).transpose(0, 1, 3, 2, 4).reshape(-1, tile * tile)

    means = tiles(x).mean(axis=1)
    variances = tiles(d).var(axis=1) / 1.5
    order = np.argsort(means)
    means, variances = means[order], variances[order]
    n_bins = int(min(64, max(4, means.size // 50)))
    edges = np.linspace(0, means.size, n_bins + 1).astype(int)
    bin_mean = np.array([np.median(means[i:j]) for i, j in zip(edges[:-1], edges[1:])])
    bin_var = np.array([np.median(variances[i:j]) for i, j in zip(edges[:-1], edges[1:])])
    # the median of a chi-square with k degrees of freedom is about k(1 - 2/(9k))^3 of its mean
    k = tile * (tile - 1) / 1.5
    bin_var /= (1 - 2 / (9 * k)) ** 3
    use = slice(0, max(3, int(n_bins * 0.9)))   # the brightest bins hold edges and saturation
    slope, _ = np.polyfit(bin_mean[use], bin_var[use], 1)
    gain = float(max(slope, 1e-6))
    offset = float(bin_mean[0])                      # the darkest tiles
    floor_var = max(float(bin_var[0]), 0.0)
    read_noise = float(math.sqrt(floor_var) / gain)
    return {"offset": offset, "gain": gain, "read_noise": read_noise}


def metrics(original, decoded, compressed_bytes=None, camera=None, q=None):
    """Ratio, max error in noise units, RMSE, PSNR (peak = the original's maximum) and the
    added-noise factor, measured and (given q) the theoretical sqrt(1 + q^2/12)."""
    o = _as_counts(np.asarray(original)).astype(np.float64)
    d = _as_counts(np.asarray(decoded)).astype(np.float64)
    if o.shape != d.shape:
        raise ValueError(f"shapes differ: {o.shape} and {d.shape}")
    err = d - o
    rmse = float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0
    peak = float(o.max()) if o.size else 0.0
    out = {
        "max_abs_error": float(np.abs(err).max()) if err.size else 0.0,
        "rmse": rmse,
        "psnr_db": float("inf") if rmse == 0 else 20 * math.log10(max(peak, 1.0) / rmse),
    }
    if compressed_bytes is not None:
        out["ratio"] = np.asarray(original).nbytes / compressed_bytes
    if camera is not None:
        sigma = noise_sigma(np.asarray(original), camera["offset"], camera["gain"], camera["read_noise"])
        pos = sigma > 0
        out["max_error_sigma"] = float((np.abs(err[pos]) / sigma[pos]).max()) if pos.any() else 0.0
        out["exact_where_sigma_is_zero"] = bool(np.all(err[~pos] == 0))
        out["added_noise_factor"] = float(np.sqrt(1 + np.mean((err[pos] / sigma[pos]) ** 2))) if pos.any() else 1.0
    if q is not None:
        out["added_noise_factor_theory"] = math.sqrt(1 + q * q / 12)
    return out
