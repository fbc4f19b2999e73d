"""Image sources and sinks for the command line: TIFF stacks, folders of TIFF planes, HDF5 datasets.

A *source* has ``shape``, ``dtype``, ``axes`` (one letter per dimension, e.g. "ZYX", "TZYX";
"Z" stands for any unnamed leading axis), ``voxel_size`` ((x, y, z) or None), ``unit`` and
``read(start, stop)``, which returns the slab ``[start:stop]`` along the first axis. Sources
read lazily, so a stack larger than memory is compressed slab by slab.

Every failure a user can cause (missing file, not a TIFF, unsupported dtype, planes of
different shapes) raises :class:`InputError` with a message that names the file.
"""
import os
import re

import numpy as np

from ._dtypes import CODES, SUPPORTED

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".ome.tif", ".ome.tiff")


class InputError(ValueError):
    """An input cannot be read or is not supported; the message says which and why."""


def _tifffile():
    try:
        import tifffile
    except ImportError:  # pragma: no cover - tifffile is a test dependency
        raise InputError("reading and writing TIFF needs the tifffile package: pip install tifffile") from None
    return tifffile


def check_dtype(dtype, where):
    """Raise InputError unless sqeazy supports `dtype`; `where` names the input."""
    dt = np.dtype(dtype)
    if dt.newbyteorder("=") not in CODES and dt not in CODES:
        hint = ""
        if dt.kind == "f":
            hint = " (convert to float32 first)"
        elif dt.kind in "iu":
            hint = " (convert to a 32-bit or smaller integer type first)"
        elif dt.kind == "b":
            hint = " (convert to uint8 first)"
        raise InputError(f"{where}: sqeazy does not support dtype {dt}{hint}; supported: {SUPPORTED}")
    return dt


def _natural_key(name):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _normalize_axes(axes, ndim):
    """tifffile's axes with unknown leading letters (Q, I, ...) read as Z; at most one Z."""
    axes = (axes or "").upper()
    if len(axes) != ndim:
        axes = "ZYX"[-ndim:] if ndim <= 3 else "T" * (ndim - 3) + "ZYX"
    out = []
    for i, a in enumerate(axes):
        if a in "TCZYXS":
            out.append(a)
        elif "Z" not in axes and "Z" not in out:
            out.append("Z")
        else:
            out.append("Q")
    return "".join(out)


class _Source:
    """Context-manager protocol shared by every source; close() releases what it holds."""

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ArraySource(_Source):
    """An in-memory array (or anything with shape, dtype and slicing) as a source."""

    def __init__(self, array, axes=None, voxel_size=None, unit="pixel", name="array"):
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = check_dtype(array.dtype, name)
        if self.dtype.byteorder == ">":
            self.dtype = self.dtype.newbyteorder("=")
        self.axes = _normalize_axes(axes, len(self.shape))
        self.voxel_size = voxel_size
        self.unit = unit
        self.name = name

    def read(self, start, stop):
        return np.ascontiguousarray(self.array[start:stop], dtype=self.dtype)


def _tiff_voxel_size(tif, page):
    """(x, y, z) and unit from ImageJ metadata and the resolution tags, or (None, 'pixel')."""
    unit = "pixel"
    xy = None
    try:
        xr = page.tags.get("XResolution")
        yr = page.tags.get("YResolution")
        if xr is not None and yr is not None:
            xn, xd = xr.value
            yn, yd = yr.value
            if xn and yn and (xn, xd) != (1, 1):
                xy = (xd / xn, yd / yn)
    except Exception:  # noqa: BLE001 - unusual tags: size unknown
        xy = None
    ij = tif.imagej_metadata or {}
    z = ij.get("spacing")
    if ij.get("unit"):
        u = str(ij["unit"]).replace("\\u00B5", "\u00b5")
        unit = {"micron": "\u00b5m", "um": "\u00b5m", "microns": "\u00b5m"}.get(u, u)
    elif xy is not None:
        res_unit = page.tags.get("ResolutionUnit")
        code = int(res_unit.value) if res_unit is not None else 2
        if code == 3:  # centimeter
            xy = (xy[0] * 1e4, xy[1] * 1e4)
            unit = "\u00b5m"
        elif code == 2:  # inch
            xy = (xy[0] * 25400, xy[1] * 25400)
            unit = "\u00b5m"
    if (xy is None or (xy == (1.0, 1.0) and unit == "pixel")) and z is None:
        return None, "pixel"
    xy = xy or (1.0, 1.0)
    return (float(xy[0]), float(xy[1]), float(z) if z else 1.0), unit


class TiffStack(_Source):
    """One TIFF file (ImageJ hyperstack, OME-TIFF or plain multi-page), series 0, read lazily."""

    def __init__(self, path):
        tifffile = _tifffile()
        self.name = path
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        try:
            self._tif = tifffile.TiffFile(path)
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
            raise InputError(f"{path}: not a readable TIFF file ({exc})") from None
        try:
            if not self._tif.pages or not self._tif.series:
                raise InputError(f"{path}: not a readable TIFF file (no images found)")
            series = self._tif.series[0]
            self.shape = tuple(int(s) for s in series.shape)
            self.dtype = check_dtype(series.dtype, path)
            self.axes = _normalize_axes(series.axes, len(self.shape))
            self.voxel_size, self.unit = _tiff_voxel_size(self._tif, self._tif.pages[0])
            if len(self.shape) < 2:
                raise InputError(f"{path}: a TIFF image of shape {self.shape} is not an image")
            self._series = series
            self._memmap = None
            self._pages_per_item = None
            if series.dataoffset is not None:
                try:
                    self._memmap = tifffile.memmap(path, series=0, mode="r")
                except Exception:  # noqa: BLE001 - not memory-mappable: read pages
                    self._memmap = None
            if self._memmap is None and len(self.shape) >= 3:
                per_page = int(np.prod(series.keyframe.shape))
                total = int(np.prod(self.shape))
                if per_page and len(series.pages) * per_page == total and total % (self.shape[0] * per_page) == 0:
                    self._pages_per_item = total // (self.shape[0] * per_page)
        except InputError:
            self._tif.close()
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged file
            self._tif.close()
            raise InputError(f"{path}: not a readable TIFF file ({exc})") from None

    def read(self, start, stop):
        start, stop = max(0, start), min(stop, self.shape[0])
        try:
            if self._memmap is not None:
                return np.ascontiguousarray(self._memmap[start:stop], dtype=self.dtype)
            if self._pages_per_item:
                k = self._pages_per_item
                data = self._tif.asarray(key=range(start * k, stop * k), series=0)
                return np.ascontiguousarray(data.reshape((stop - start,) + self.shape[1:]), dtype=self.dtype)
            if not hasattr(self, "_all"):
                self._all = self._series.asarray()
            return np.ascontiguousarray(self._all[start:stop], dtype=self.dtype)
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt data
            raise InputError(f"{self.name}: cannot read planes {start}..{stop - 1} ({exc})") from None

    def close(self):
        self._memmap = None
        self._tif.close()


class TiffFolder(_Source):
    """A folder of TIFF files, one plane (or one stack) each, in natural name order."""

    def __init__(self, path, pattern=None):
        self.name = path
        names = [n for n in os.listdir(path) if n.lower().endswith(TIFF_SUFFIXES) and not n.startswith(".")]
        if pattern:
            rx = re.compile(pattern)
            names = [n for n in names if rx.search(n)]
        if not names:
            raise InputError(f"{path}: the folder holds no .tif/.tiff files")
        self.files = [os.path.join(path, n) for n in sorted(names, key=_natural_key)]
        with TiffStack(self.files[0]) as first:
            self._plane_shape = first.shape
            self.dtype = first.dtype
            self.voxel_size, self.unit = first.voxel_size, first.unit
            plane_axes = first.axes
        if len(self._plane_shape) == 2:
            self.axes = "ZYX"
        else:
            self.axes = ("T" if "T" not in plane_axes else "Q") + plane_axes
        self.shape = (len(self.files),) + self._plane_shape

    def read(self, start, stop):
        start, stop = max(0, start), min(stop, self.shape[0])
        out = np.empty((stop - start,) + self._plane_shape, self.dtype)
        for i in range(start, stop):
            with TiffStack(self.files[i]) as t:
                if t.shape != self._plane_shape or t.dtype != self.dtype:
                    raise InputError(f"{self.files[i]}: shape {t.shape} {t.dtype} differs from the first file "
                                     f"{self.files[0]} ({self._plane_shape} {self.dtype})")
                out[i - start] = t.read(0, t.shape[0]).reshape(self._plane_shape)
        return out


def list_datasets(h5file):
    """Paths of all datasets in an open h5py File, in visit order."""
    import h5py
    names = []
    h5file.visititems(lambda n, o: names.append("/" + n) if isinstance(o, h5py.Dataset) else None)
    return names


class Hdf5Source(_Source):
    """One dataset of an HDF5 file (it may itself be sqeazy-compressed)."""

    def __init__(self, path, dataset=None):
        import h5py
        from . import register
        register()
        self.name = f"{path}:{dataset}" if dataset else path
        try:
            self._file = h5py.File(path, "r")
        except OSError as exc:
            raise InputError(f"{path}: cannot open as HDF5 ({exc})") from None
        try:
            if dataset is None:
                names = [n for n in list_datasets(self._file) if self._file[n].ndim >= 2]
                if len(names) != 1:
                    listing = ", ".join(names[:20]) or "none"
                    raise InputError(f"{path}: name the dataset as {path}:/PATH (image datasets: {listing})")
                dataset = names[0]
            if dataset not in self._file or not isinstance(self._file[dataset], h5py.Dataset):
                raise InputError(f"{path}: no dataset {dataset!r} (datasets: {', '.join(list_datasets(self._file)[:20])})")
            self._ds = self._file[dataset]
            self.dataset = dataset
            self.name = f"{path}:{dataset}"
            self.shape = tuple(self._ds.shape)
            if len(self.shape) < 1:
                raise InputError(f"{self.name}: a scalar dataset is not an image")
            self.dtype = check_dtype(self._ds.dtype, self.name)
            if self.dtype.byteorder == ">":
                self.dtype = self.dtype.newbyteorder("=")
            # BigDataViewer stores uint16 as int16 (legacy layout: no dataType on the setup group)
            self._bdv_uint16 = False
            m = re.fullmatch(r"/?t\d{5}/(s\d{2})/\d+/cells", dataset)
            if m and self.dtype == np.dtype("int16") and "dataType" not in self._file[m.group(1)].attrs:
                self._bdv_uint16, self.dtype = True, np.dtype("uint16")
            axes = self._ds.attrs.get("axes")
            self.axes = _normalize_axes(axes.decode() if isinstance(axes, bytes) else axes, len(self.shape))
            size = self._ds.attrs.get("element_size_um")
            if size is not None and len(size) == 3:
                self.voxel_size, self.unit = (float(size[2]), float(size[1]), float(size[0])), "\u00b5m"
            else:
                self.voxel_size, self.unit = None, "pixel"
            self.chunks = self._ds.chunks
        except Exception:
            self._file.close()
            raise

    def read(self, start, stop):
        try:
            data = self._ds[start:stop]
            if self._bdv_uint16:
                return np.ascontiguousarray(data).view(np.uint16)
            return np.ascontiguousarray(data, dtype=self.dtype)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read [{start}:{stop}] ({exc}); is the filter plugin available?") \
                from None

    def close(self):
        self._file.close()


def split_dataset(spec):
    """'file.h5:/group/data' -> ('file.h5', '/group/data'); a plain existing path -> (path, None)."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    path, _, dataset = spec.rpartition(":")
    if path and os.path.exists(path):
        return path, dataset if dataset.startswith("/") else "/" + dataset
    return spec, None


def is_hdf5(path):
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return True
    import h5py
    try:
        return bool(h5py.is_hdf5(path))
    except Exception:  # noqa: BLE001
        return False


def open_source(spec, dataset=None, pattern=None):
    """Open a TIFF stack, a folder of TIFF planes, or an HDF5 dataset ('file.h5:/path')."""
    path, ds = split_dataset(spec)
    dataset = dataset or ds
    if not os.path.exists(path):
        raise InputError(f"{spec}: no such file or folder")
    if os.path.isdir(path):
        return TiffFolder(path, pattern)
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    if is_hdf5(path):
        return Hdf5Source(path, dataset)
    if dataset:
        raise InputError(f"{path}: not an HDF5 file, so it has no dataset {dataset!r}")
    return TiffStack(path)


def write_tiff(path, shape, dtype, slabs, axes=None, voxel_size=None, unit=None):
    """Write planes coming from the iterator `slabs` (arrays along the first axis) as one TIFF.

    ImageJ-compatible (Fiji opens it as a hyperstack) when the dtype and size allow, else BigTIFF.
    """
    tifffile = _tifffile()
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    axes = axes or _normalize_axes(None, len(shape))
    imagej = dtype in (np.dtype("uint8"), np.dtype("uint16"), np.dtype("float32")) and nbytes < 2**32 - 2**25 \
        and set(axes) <= set("TZCYX") and len(set(axes)) == len(axes)

    def pages():
        for slab in slabs:
            slab = np.ascontiguousarray(slab, dtype=dtype)
            for plane in slab.reshape((-1,) + tuple(shape[-2:])):
                yield plane

    kwargs = {}
    if imagej:
        order = "".join(a for a in "TZCYX" if a in axes)
        metadata = {"axes": axes}
        if voxel_size is not None:
            metadata["spacing"] = voxel_size[2]
            metadata["unit"] = "um" if unit in ("\u00b5m", "um", "micron") else (unit or "pixel")
            kwargs["resolution"] = (1.0 / voxel_size[0], 1.0 / voxel_size[1])
        if order != axes:  # ImageJ wants TZCYX order; write plain TIFF with the axes in the description
            imagej = False
            kwargs.pop("resolution", None)
        else:
            kwargs["metadata"] = metadata
    if not imagej:
        kwargs["metadata"] = {"axes": axes}
    tifffile.imwrite(path, data=pages(), shape=tuple(shape), dtype=dtype, imagej=imagej, bigtiff=not imagej and nbytes >= 2**31, **kwargs)
