"""Time-lapse conversion on Dask: one task per partition file, a master file linking them.

``convert_timelapse(source, "out/experiment.xml")`` writes BigDataViewer's partitioned HDF5
layout (what its "partitioned" export writes; see ``bdv.write_master_h5``):

- ``experiment-TT-SS.h5``: one *partition* per group of time points (TT) and of setups (SS),
  each written by one Dask task, with a multi-resolution pyramid compressed with sqeazy;
- ``experiment.h5``: the *master* file: setup groups and external links to every view's cells;
- ``experiment.xml``: SpimData with the partitions listed, so Fiji opens one dataset;
- ``experiment.manifest.json``: what was converted, with checksums of the source data.

Nothing is lost when a task dies: a partition is written under a hidden temporary name,
closed, read back through the filter (every sqeazy block checks its own checksums; for a
lossless pipeline the decoded level 0 must have the SHA-256 of the source data read while
writing) and only then renamed to its final name. A partition under its final name is
therefore complete and verified; its root attribute ``sqeazy_convert`` records the settings
and the source files (path, size, mtime) it was made from, so a rerun skips it. The master
file and the XML are written last, each under a temporary name first. Sources are only read.

Sources: TIFF files named by a pattern with ``{t}`` (time point) and optionally ``{c}``
(channel) holding one 2-D or 3-D stack each; or an HDF5 dataset (``file.h5:/path``) or a Zarr
array (``store.zarr`` or ``store.zarr:/path``) with axes from T, C, Z, Y, X. dask is imported
only when a conversion runs.
"""
import glob
import hashlib
import json
import os
import re
import socket
import time
import uuid
from dataclasses import asdict, dataclass

import numpy as np

from . import DEFAULT_PIPELINE, bdv, canonical_pipeline, is_lossy
from .io import InputError, TiffStack, check_dtype, split_dataset

FORMAT = "sqeazy-convert/1"
RECORD_ATTR = "sqeazy_convert"
TMP_MARK = ".sqeazy-tmp-"

__all__ = ["convert_timelapse", "plan_source", "ConvertError", "VerificationError", "read_record"]


class ConvertError(ValueError):
    """A problem the user can fix (bad input, existing output that does not match, failed partitions)."""


class VerificationError(RuntimeError):
    """A partition read back differs from its source; it was not kept."""


# ------------------------------------------------------------------ sources

@dataclass(frozen=True)
class ViewRef:
    """Where one view (time point x setup, a (z, y, x) volume) comes from; picklable for the workers."""
    timepoint: int
    setup: int
    kind: str            # "tiff", "hdf5" or "zarr"
    path: str
    dataset: str = ""    # HDF5 dataset or Zarr array inside the store ("" for TIFF / a bare array)
    axes: str = "ZYX"    # axes of the array (HDF5/Zarr)
    t_index: int = 0
    c_index: int = 0
    shape: tuple = ()    # (z, y, x)
    dtype: str = "uint16"


@dataclass
class Plan:
    views: list          # [ViewRef], sorted by (timepoint, setup)
    setups: dict         # {setup: {"voxel_size": (x, y, z), "unit": ..., "name": ..., "channel": ...}}
    description: str


def _pattern_regex(pattern):
    """`pattern` with {t}, {c}, * and ? -> (regex matching whole paths, glob pattern)."""
    parts, globp, seen = [], [], set()
    for token in re.split(r"(\{[tc]\}|\*|\?)", pattern):
        if token in ("{t}", "{c}"):
            name = token[1]
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>\\d+)")
            seen.add(name)
            globp.append("*")
        elif token == "*":
            parts.append(r"[^/]*")
            globp.append("*")
        elif token == "?":
            parts.append(r"[^/]")
            globp.append("?")
        else:
            parts.append(re.escape(token))
            globp.append(glob.escape(token))
    return re.compile("".join(parts)), "".join(globp)


def _ranges(values):
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8'."""
    out, values = [], sorted(values)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ", ".join(out)


def _plan_tiff(pattern, voxel_size=None, unit=None, allow_gaps=False):
    if "{t}" not in pattern:
        raise ConvertError(f"{pattern}: a TIFF source needs {{t}} in its file name pattern (and {{c}} for "
                           "channels), e.g. raw/stack_t{t}_c{c}.tif")
    rx, gpat = _pattern_regex(pattern)
    files = {}
    for path in glob.glob(gpat):
        m = rx.fullmatch(path)
        if m is None or not os.path.isfile(path):
            continue
        key = (int(m.group("t")), int(m.group("c")) if "c" in m.groupdict() else 0)
        if key in files:
            raise ConvertError(f"time point {key[0]}, channel {key[1]} matches two files: {files[key]} and {path}")
        files[key] = path
    if not files:
        raise ConvertError(f"{pattern}: no files match")
    ts = sorted({t for t, _ in files})
    cs = sorted({c for _, c in files})
    missing = [(t, c) for t in ts for c in cs if (t, c) not in files]
    if missing:
        shown = ", ".join(f"t={t} c={c}" for t, c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ConvertError(f"{pattern}: {len(missing)} file(s) missing: {shown}{more} "
                           f"(found time points {_ranges(ts)}, channels {_ranges(cs)})")
    if not allow_gaps and ts != list(range(ts[0], ts[-1] + 1)):
        gaps = sorted(set(range(ts[0], ts[-1] + 1)) - set(ts))
        raise ConvertError(f"{pattern}: time points {_ranges(gaps)} are missing between {ts[0]} and {ts[-1]} "
                           "(use --allow-gaps / allow_gaps=True if that is intended)")
    setup_of = {c: i for i, c in enumerate(cs)}
    first = {}   # channel -> (path, shape, dtype)
    views, setups = [], {}
    for (t, c), path in sorted(files.items()):
        try:
            with TiffStack(path) as st:
                shape, dtype, axes, vox, vunit = st.shape, st.dtype, st.axes, st.voxel_size, st.unit
        except InputError as exc:
            raise ConvertError(str(exc)) from None
        if len(shape) == 2:
            shape = (1,) + tuple(shape)
        elif len(shape) != 3:
            raise ConvertError(f"{path}: shape {shape} (axes {axes}); each file must hold one 2-D or 3-D stack "
                               "(one time point of one channel)")
        dtype = _check_bdv_dtype(dtype, path)
        if c not in first:
            first[c] = (path, shape, dtype)
            sid = setup_of[c]
            setups[sid] = {"voxel_size": tuple(voxel_size or vox or (1.0, 1.0, 1.0)),
                           "unit": unit or ("\u00b5m" if voxel_size else (vunit if vox else "pixel")),
                           "name": f"channel {c}", "channel": c}
        elif (shape, dtype) != first[c][1:]:
            raise ConvertError(f"{path}: shape {shape} {dtype} differs from {first[c][0]} "
                               f"({first[c][1]} {first[c][2]}); all time points of a channel must match")
        views.append(ViewRef(t, setup_of[c], "tiff", os.path.abspath(path), shape=tuple(shape), dtype=dtype.name))
    desc = f"{pattern}: {len(ts)} time point(s) {_ranges(ts)}, {len(cs)} channel(s) {_ranges(cs)}"
    return Plan(views, setups, desc)


def _check_bdv_dtype(dtype, where):
    try:
        dt = check_dtype(dtype, where)
    except InputError as exc:
        raise ConvertError(str(exc)) from None
    dt = dt.newbyteorder("=")
    if dt != np.dtype("uint16") and dt.name not in bdv.DATA_TYPES:
        raise ConvertError(f"{where}: BigDataViewer cannot store {dt}")
    return dt


def _check_axes(axes, ndim, where):
    axes = axes.upper()
    if len(axes) != ndim or len(set(axes)) != ndim or not set(axes) <= set("TCZYX") or not {"Y", "X"} <= set(axes):
        raise ConvertError(f"{where}: axes {axes!r} do not fit {ndim} dimensions (letters from T, C, Z, Y, X, "
                           "once each, with Y and X; use --axes)")
    return axes


def _default_axes(attr_axes, ndim):
    if attr_axes:
        return attr_axes.decode() if isinstance(attr_axes, bytes) else str(attr_axes)
    return {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}.get(ndim, "?" * ndim)


def _is_zarr(path):
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, n)) for n in (".zarray", "zarr.json"))


def _open_array(kind, path, dataset):
    """(array-like, closer) for an HDF5 dataset or a Zarr array, read-only."""
    if kind == "hdf5":
        import h5py
        f = h5py.File(path, "r")
        if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
            f.close()
            raise InputError(f"{path}: no dataset {dataset!r}")
        return f[dataset], f.close
    import zarr
    try:
        arr = zarr.open_array(store=path, path=dataset.strip("/") or None, mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds
        raise InputError(f"{path}:{dataset or '/'}: not a readable Zarr array ({exc})") from None
    return arr, (lambda: None)


def _plan_array(spec, dataset=None, axes=None, voxel_size=None, unit=None):
    path, ds = split_dataset(spec)
    dataset = dataset or ds or ""
    if not os.path.exists(path):
        raise ConvertError(f"{spec}: no such file or folder")
    if _is_zarr(path):
        kind = "zarr"
    else:
        from .io import is_hdf5
        if not is_hdf5(path):
            raise ConvertError(f"{path}: neither HDF5 nor a Zarr array (a TIFF source needs a pattern with {{t}})")
        kind = "hdf5"
    if kind == "hdf5" and not dataset:
        import h5py
        from .io import list_datasets
        with h5py.File(path, "r") as f:
            names = [n for n in list_datasets(f) if f[n].ndim >= 3]
        if len(names) != 1:
            raise ConvertError(f"{path}: name the dataset as {path}:/PATH (datasets: {', '.join(names[:20]) or 'none'})")
        dataset = names[0]
    try:
        arr, close = _open_array(kind, path, dataset)
    except InputError as exc:
        raise ConvertError(str(exc)) from None
    try:
        shape, dtype = tuple(int(s) for s in arr.shape), arr.dtype
        attr_axes = arr.attrs.get("axes") if hasattr(arr, "attrs") else None
        size = arr.attrs.get("element_size_um") if hasattr(arr, "attrs") else None
    finally:
        close()
    name = f"{path}:{dataset}" if dataset else path
    axes = _check_axes(axes or _default_axes(attr_axes, len(shape)), len(shape), name)
    dtype = _check_bdv_dtype(dtype, name)
    dims = dict(zip(axes, shape))
    nt, nc = dims.get("T", 1), dims.get("C", 1)
    zyx = (dims.get("Z", 1), dims["Y"], dims["X"])
    if 0 in shape:
        raise ConvertError(f"{name}: empty array {shape}")
    if voxel_size is None and size is not None and len(size) == 3:
        voxel_size, unit = (float(size[2]), float(size[1]), float(size[0])), unit or "\u00b5m"
    setups = {c: {"voxel_size": tuple(voxel_size or (1.0, 1.0, 1.0)),
                  "unit": unit or ("\u00b5m" if voxel_size else "pixel"), "name": f"channel {c}", "channel": c}
              for c in range(nc)}
    views = [ViewRef(t, c, kind, os.path.abspath(path), dataset, axes, t, c, zyx, dtype.name)
             for t in range(nt) for c in range(nc)]
    return Plan(views, setups, f"{name}: axes {axes} shape {shape} {dtype}: {nt} time point(s), {nc} channel(s)")


def plan_source(source, dataset=None, axes=None, voxel_size=None, unit=None, allow_gaps=False):
    """What a conversion would read: a Plan of views and setups. Raises ConvertError naming the problem."""
    source = os.fspath(source)
    if "{t}" in source or "{c}" in source:
        if dataset or axes:
            raise ConvertError("--input-dataset/--axes apply to HDF5/Zarr sources, not to a TIFF pattern")
        return _plan_tiff(source, voxel_size, unit, allow_gaps)
    return _plan_array(source, dataset, axes, voxel_size, unit)


class _ViewReader:
    """Reads (z0:z1, y, x) slabs of one view, as the native dtype, checking the shape."""

    def __init__(self, ref):
        self.ref = ref
        self.dtype = np.dtype(ref.dtype)
        self._close = lambda: None
        if ref.kind == "tiff":
            self._tiff = TiffStack(ref.path)
            self._close = self._tiff.close
            shape = self._tiff.shape if len(self._tiff.shape) == 3 else (1,) + tuple(self._tiff.shape)
            if tuple(shape) != tuple(ref.shape) or self._tiff.dtype.newbyteorder("=") != self.dtype:
                self.close()
                raise InputError(f"{ref.path}: shape {shape} {self._tiff.dtype} differs from the planned "
                                 f"{ref.shape} {self.dtype} (changed since the conversion started?)")
        else:
            self._arr, self._close = _open_array(ref.kind, ref.path, ref.dataset)

    def read(self, z0, z1):
        ref = self.ref
        if ref.kind == "tiff":
            if len(self._tiff.shape) == 2:
                data = self._tiff.read(0, self._tiff.shape[0]).reshape((1,) + self._tiff.shape)[z0:z1]
            else:
                data = self._tiff.read(z0, z1)
        else:
            index, kept = [], []
            for a in ref.axes:
                if a == "T":
                    index.append(ref.t_index)
                elif a == "C":
                    index.append(ref.c_index)
                else:
                    index.append(slice(z0, z1) if a == "Z" else slice(None))
                    kept.append(a)
            try:
                data = np.asarray(self._arr[tuple(index)])
            except Exception as exc:  # noqa: BLE001 - a damaged file or a missing plugin
                raise InputError(f"{ref.path}:{ref.dataset}: cannot read t={ref.t_index} c={ref.c_index} "
                                 f"z={z0}..{z1 - 1} ({exc})") from None
            order = [kept.index(a) for a in "ZYX" if a in kept]
            data = np.transpose(data, order)
            if "Z" not in kept:
                data = data[None][z0:z1]
        data = np.ascontiguousarray(data, dtype=self.dtype)
        expected = (z1 - z0,) + tuple(ref.shape[1:])
        if data.shape != expected:
            raise InputError(f"{ref.path}: read {data.shape} for planes {z0}..{z1 - 1}, expected {expected}")
        return data

    def close(self):
        self._close()


# ------------------------------------------------------------------ partitions

def _fingerprint(refs):
    """[[path, size, mtime_ns], ...] of the files a partition reads (Zarr: its metadata file)."""
    out = []
    for path in sorted({r.path for r in refs}):
        target = path
        if os.path.isdir(path):
            target = next((os.path.join(path, n) for n in ("zarr.json", ".zarray") if
                           os.path.exists(os.path.join(path, n))), path)
        st = os.stat(target)
        out.append([path, st.st_size, st.st_mtime_ns])
    return out


def _jsonable(x):
    return json.loads(json.dumps(x))


def _split(ids, per):
    ids = sorted(ids)
    if per is None or per <= 0:
        return [ids]
    return [ids[i:i + per] for i in range(0, len(ids), per)]


def read_record(path):
    """The ``sqeazy_convert`` record of a partition file (dict), or None if it has none or is unreadable."""
    import h5py
    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get(RECORD_ATTR)
    except OSError:
        return None
    if text is None:
        return None
    try:
        return json.loads(text.decode() if isinstance(text, bytes) else text)
    except ValueError:
        return None


def _record_matches(record, expect):
    return record is not None and record.get("format") == FORMAT and \
        record.get("settings") == expect["settings"] and record.get("sources") == expect["sources"]


def _mismatch_reason(record, expect):
    if record is None:
        return "it has no readable sqeazy_convert record (not written by sqeazy convert, or damaged)"
    if record.get("settings") != expect["settings"]:
        old, new = record.get("settings", {}), expect["settings"]
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f"it was written with other settings ({', '.join(keys)})"
    return "its source files changed (path, size or modification time)"


def _tmp_path(path):
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base}{TMP_MARK}{uuid.uuid4().hex[:12]}")


def _fsync(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _levels_read(ds, legacy, rows, digest=None):
    """Decode a whole dataset slab by slab (every sqeazy block checks its checksums); hash it if asked."""
    for z0 in range(0, ds.shape[0], rows):
        data = np.ascontiguousarray(ds[z0:z0 + rows])
        if digest is not None:
            digest.update(memoryview(data.view(np.uint16) if legacy else data).cast("B"))


def verify_partition(path, record, lossless):
    """Read every level of every view of a closed partition file back through the filter.

    Level 0 hashes to the recorded source SHA-256 when the pipeline is lossless. Returns
    {"t,s": decoded sha256 of level 0}; raises VerificationError on any difference or read error.
    """
    import h5py
    decoded = {}
    try:
        with h5py.File(path, "r") as f:
            stored = f.attrs.get(RECORD_ATTR)
            if stored is None or json.loads(stored) != record:
                raise VerificationError(f"{path}: the sqeazy_convert record did not read back intact")
            for view in record["views"]:
                t, s = view["timepoint"], view["setup"]
                legacy = np.dtype(view["dtype"]) == np.dtype("uint16")
                for level in range(len(record["settings"]["pyramids"][str(s)][0])):
                    ds = f[bdv.cells_path(t, s, level)]
                    if level == 0 and list(ds.shape) != view["shape"]:
                        raise VerificationError(f"{path}: view t={t} s={s} has shape {ds.shape}, "
                                                f"expected {view['shape']}")
                    rows = ds.chunks[0] * max(1, 16 // ds.chunks[0])
                    digest = hashlib.sha256() if level == 0 else None
                    _levels_read(ds, legacy, rows, digest)
                    if digest is not None:
                        decoded[f"{t},{s}"] = digest.hexdigest()
                        if lossless and digest.hexdigest() != view["source_sha256"]:
                            raise VerificationError(
                                f"{path}: view t={t} s={s}: decoded data differs from the source (sha256 "
                                f"{digest.hexdigest()[:16]}... != {view['source_sha256'][:16]}...)")
    except (OSError, KeyError) as exc:
        raise VerificationError(f"{path}: cannot read back ({exc})") from None
    return decoded


def convert_partition(job, part):
    """Write, verify and commit one partition file. Runs on a Dask worker; returns its record.

    job: settings shared by all partitions; part: {"name", "views": [ViewRef], "expect": {...}}.
    A partition already present under its final name with a matching record is kept (a task
    that is run again after its worker died returns at once).
    """
    from . import register
    register()
    t_start = time.perf_counter()
    final = os.path.join(job["folder"], part["name"])
    host = {"host": socket.gethostname(), "pid": os.getpid()}
    if os.path.exists(final) and not job["force"]:
        record = read_record(final)
        if _record_matches(record, part["expect"]):
            return {"name": part["name"], "record": record, "skipped": True, "stored_bytes": os.path.getsize(final),
                    "seconds": time.perf_counter() - t_start, **host}
    tmp = _tmp_path(final)
    readers = []
    try:
        views, digests, next_z = [], {}, {}
        for ref in part["views"]:
            reader = _ViewReader(ref)
            readers.append(reader)
            key = (ref.timepoint, ref.setup)
            digests[key], next_z[key] = hashlib.sha256(), 0

            def read(z0, z1, reader=reader, key=key):
                if z0 != next_z[key]:  # the checksum covers the view only if it is read once, in order
                    raise RuntimeError(f"internal: view {key} read out of order ({z0} after {next_z[key]})")
                slab = reader.read(z0, z1)
                digests[key].update(memoryview(slab).cast("B"))
                next_z[key] = z1
                return slab
            views.append(bdv.View(ref.timepoint, ref.setup, ref.shape, ref.dtype, read))
        setups = {s: job["setups"][s] for s in sorted({r.setup for r in part["views"]})}
        pyramids = bdv.write_h5(tmp, views, setups, pipeline=job["pipeline"], threads=job["threads"],
                                block_size=job["block_size"], levels=job["levels"], block_xyz=job["block_xyz"])
        if _jsonable({str(s): p for s, p in pyramids.items()}) != part["expect"]["settings"]["pyramids"]:
            raise RuntimeError(f"internal: {part['name']}: pyramid differs from the planned one")
        for ref in part["views"]:
            if next_z[(ref.timepoint, ref.setup)] != ref.shape[0]:
                raise RuntimeError(f"internal: view {(ref.timepoint, ref.setup)} not read completely")
        record = dict(part["expect"])
        record["views"] = [{"timepoint": r.timepoint, "setup": r.setup, "shape": list(r.shape), "dtype": r.dtype,
                            "source_sha256": digests[(r.timepoint, r.setup)].hexdigest()} for r in part["views"]]
        record = _jsonable(record)
        import h5py
        with h5py.File(tmp, "r+") as f:
            f.attrs[RECORD_ATTR] = json.dumps(record, sort_keys=True)
        _fsync(tmp)
        decoded = verify_partition(tmp, record, job["lossless"])
        os.replace(tmp, final)
        _fsync(job["folder"])
        raw = sum(int(np.prod(r.shape)) * np.dtype(r.dtype).itemsize for r in part["views"])
        return {"name": part["name"], "record": record, "skipped": False, "decoded_sha256": decoded,
                "raw_bytes": raw, "stored_bytes": os.path.getsize(final),
                "seconds": time.perf_counter() - t_start, **host}
    finally:
        for r in readers:
            r.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_partition(job, part):
    """Re-verify an existing partition (decode everything, compare with its recorded source checksums)."""
    from . import register
    register()
    final = os.path.join(job["folder"], part["name"])
    record = read_record(final)
    if not _record_matches(record, part["expect"]):
        raise VerificationError(f"{final}: {_mismatch_reason(record, part['expect'])}")
    decoded = verify_partition(final, record, job["lossless"])
    return {"name": part["name"], "record": record, "skipped": True, "rechecked": True, "decoded_sha256": decoded,
            "stored_bytes": os.path.getsize(final), "host": socket.gethostname(), "pid": os.getpid()}


# ------------------------------------------------------------------ the cluster

def _dask():
    try:
        import distributed
    except ImportError:
        raise ConvertError("sqeazy convert needs Dask: pip install 'sqeazy_filter[dask]' "
                           "(or: pip install 'dask[distributed]')") from None
    return distributed


def default_workers():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def open_client(scheduler=None, n_workers=None, threads_per_worker=1):
    """(client, owned): a Client of `scheduler` (address, scheduler JSON file or Client), or of a new
    LocalCluster of `n_workers` processes. `owned`: the caller must close it (client.close(); cluster)."""
    distributed = _dask()
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, False
    if scheduler:
        try:
            if scheduler.endswith(".json") and os.path.isfile(scheduler):  # waits distributed.comm.timeouts.connect
                return distributed.Client(scheduler_file=scheduler), True
            return distributed.Client(scheduler), True
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConvertError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    n = n_workers or default_workers()
    if n < 1 or threads_per_worker < 1:
        raise ConvertError("the number of workers and of threads per worker must be >= 1")
    return distributed.Client(local_cluster(n, threads_per_worker)), True


#: Environment for worker processes, set before they start. Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536,
#: which also fixes glibc's mmap threshold at 128 KiB: every chunk buffer and numpy temporary is then a fresh
#: mmap whose pages fault in again, and a conversion runs ~1.6x slower (bench/bench_dask.py, docs/CLUSTER.md).
WORKER_MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": 128 << 20, "MALLOC_MMAP_THRESHOLD_": 32 << 20}


def local_cluster(n_workers, threads_per_worker=1):
    """A LocalCluster of worker processes for conversion (WORKER_MALLOC_ENV, no dashboard, quiet logs)."""
    import logging

    import dask
    distributed = _dask()
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC_ENV.items()}
    with dask.config.set(environ):
        return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)


def _close_client(client):
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _write_atomic(path, write):
    tmp = _tmp_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_stale_tmp(folder, stem):
    for path in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}*{TMP_MARK}*")):
        try:
            os.unlink(path)
        except OSError:
            pass


def convert_timelapse(source, output, *, dataset=None, axes=None, pipeline=DEFAULT_PIPELINE, block_size=0, threads=1,
                      levels=None, block_xyz=None, voxel_size=None, unit=None, timepoints_per_partition=1,
                      setups_per_partition=0, scheduler=None, n_workers=None, threads_per_worker=1, retries=1,
                      force=False, recheck=False, allow_gaps=False, on_partition=None):
    """Convert a time-lapse into BigDataViewer's partitioned HDF5 layout on a Dask cluster.

    source: a TIFF pattern with {t} (and {c}), e.g. "raw/t{t}_c{c}.tif", an HDF5 dataset
    "file.h5:/data" or a Zarr array "store.zarr" (axes from T, C, Z, Y, X; `axes` overrides).
    output: the .xml; the master .h5, the partitions OUTPUT-TT-SS.h5 and OUTPUT.manifest.json go next to it.
    threads: filter threads per chunk inside each task (parallelism comes from the workers).
    scheduler: None (a LocalCluster of `n_workers` processes x `threads_per_worker`), a scheduler
    address "tcp://host:8786", a scheduler JSON file, a distributed.Client, or "in-process" (no Dask:
    the partitions one after the other in this process).
    Partitions already converted from the same source with the same settings are kept (resume);
    `recheck` decodes them again on the cluster; `force` rewrites everything. An existing partition
    that does not match raises ConvertError unless `force`.
    on_partition(result): called on the client for each partition done (or kept).
    Returns a summary dict. Raises ConvertError if any partition failed (the others are kept).
    """
    t0 = time.perf_counter()
    output = os.path.abspath(os.fspath(output))
    if not output.lower().endswith(".xml"):
        raise ConvertError(f"{output}: the output must be the .xml file (the .h5 files are written next to it)")
    folder = os.path.dirname(output)
    if not os.path.isdir(folder):
        raise ConvertError(f"{output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConvertError(f"{output}: cannot write in {folder} (permission denied)")
    stem = os.path.splitext(os.path.basename(output))[0]
    master = os.path.join(folder, stem + ".h5")
    manifest_path = os.path.join(folder, stem + ".manifest.json")
    try:
        pipeline = canonical_pipeline(pipeline)
    except ValueError as exc:
        raise ConvertError(str(exc)) from None
    for name, value in (("timepoints_per_partition", timepoints_per_partition),
                        ("setups_per_partition", setups_per_partition), ("retries", retries)):
        if not isinstance(value, int) or value < 0:
            raise ConvertError(f"{name} must be an integer >= 0, not {value!r}")
    from .codec import _check_block_size, _check_threads
    _check_threads(threads), _check_block_size(block_size)

    plan = plan_source(source, dataset, axes, voxel_size, unit, allow_gaps)
    src_files = {r.path for r in plan.views}
    if os.path.abspath(master) in src_files or any(os.path.dirname(p) == folder and os.path.basename(p).startswith(
            stem + "-") and p.endswith(".h5") for p in src_files):
        raise ConvertError(f"{output}: the output files would overwrite the source")
    pyramids, dtypes = {}, {}
    for sid, meta in plan.setups.items():
        ref = next(v for v in plan.views if v.setup == sid)
        pyramids[sid] = bdv.propose_pyramid(ref.shape, meta["voxel_size"], block_xyz, max_levels=levels or 8)
        dtypes[sid] = np.dtype(ref.dtype)
    by_view = {(v.timepoint, v.setup): v for v in plan.views}
    t_groups = _split({v.timepoint for v in plan.views}, timepoints_per_partition)
    s_groups = _split(plan.setups, setups_per_partition)
    parts = []
    for ti, tps in enumerate(t_groups):
        for si, sids in enumerate(s_groups):
            refs = [by_view[(t, s)] for t in tps for s in sids]
            settings = {"pipeline": pipeline, "block_size": block_size,
                        "pyramids": {str(s): pyramids[s] for s in sids},
                        "views": [[r.timepoint, r.setup, list(r.shape), r.dtype] for r in refs]}
            expect = _jsonable({"format": FORMAT, "settings": settings, "sources": _fingerprint(refs)})
            parts.append({"name": f"{stem}-{ti:02d}-{si:02d}.h5", "timepoints": tps, "setups": sids, "views": refs,
                          "expect": expect})

    # what is there already
    keep, todo, conflicts = [], [], []
    for part in parts:
        path = os.path.join(folder, part["name"])
        if not os.path.exists(path) or force:
            todo.append(part)
            continue
        record = read_record(path)
        if _record_matches(record, part["expect"]):
            keep.append(part)
        else:
            conflicts.append(f"{part['name']}: {_mismatch_reason(record, part['expect'])}")
    if conflicts:
        raise ConvertError(f"{len(conflicts)} existing partition(s) do not match this conversion: "
                           + "; ".join(conflicts[:5]) + ("; ..." if len(conflicts) > 5 else "")
                           + ". Use --force (force=True) to rewrite them, or choose another output.")
    if not keep and not force:
        for p in (output, master):
            if os.path.exists(p):
                raise ConvertError(f"{p} exists and holds no partition of this conversion; "
                                   "use --force (force=True) to overwrite it")
    _remove_stale_tmp(folder, stem)

    job = {"folder": folder, "pipeline": pipeline, "block_size": block_size, "threads": threads, "levels": levels,
           "block_xyz": block_xyz, "setups": plan.setups, "lossless": not is_lossy(pipeline), "force": force}
    results, errors = {}, []
    for part in keep:
        if not recheck:
            path = os.path.join(folder, part["name"])
            results[part["name"]] = {"name": part["name"], "record": read_record(path), "skipped": True,
                                     "stored_bytes": os.path.getsize(path)}
            if on_partition:
                on_partition(results[part["name"]])
    tasks = [(convert_partition, p) for p in todo] + ([(check_partition, p) for p in keep] if recheck else [])
    workers = None
    if tasks and scheduler == "in-process":  # no Dask: one partition after the other, here (debugging, baseline)
        workers = 1
        for func, part in tasks:
            try:
                value = func(job, part)
            except Exception as exc:  # noqa: BLE001 - reported with the others below
                errors.append(f"{part['name']}: {type(exc).__name__}: {exc}")
                continue
            results[part["name"]] = value
            if on_partition:
                on_partition(value)
    elif tasks:
        distributed = _dask()
        client, owned = open_client(scheduler, n_workers, threads_per_worker)
        try:
            workers = len(client.scheduler_info().get("workers", {}))
            token = uuid.uuid4().hex[:8]
            futures = {}
            for func, part in tasks:
                fut = client.submit(func, job, part, key=f"sqeazy-{func.__name__}-{part['name']}-{token}",
                                    pure=False, retries=retries)
                futures[fut] = part["name"]
            # the client's own loop: as_completed would otherwise use the default (latest) client's
            for fut, value in distributed.as_completed(list(futures), loop=client.loop, with_results=True,
                                                       raise_errors=False):
                name = futures[fut]
                if fut.status != "finished":
                    exc = value[1] if isinstance(value, tuple) and len(value) == 3 else value
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                results[name] = value
                if on_partition:
                    on_partition(value)
        finally:
            if owned:
                _close_client(client)
    _remove_stale_tmp(folder, stem)
    if errors:
        raise ConvertError(f"{len(errors)} of {len(parts)} partition(s) failed (the {len(results)} done are kept; "
                           f"rerun to resume): " + "; ".join(errors[:5]) + ("; ..." if len(errors) > 5 else ""))

    # master file and XML: written last, each under a temporary name first
    links = {(t, s): part["name"] for part in parts for t in part["timepoints"] for s in part["setups"]}

    def write_master(tmp):
        bdv.write_master_h5(tmp, pyramids, dtypes, links)
        import h5py
        with h5py.File(tmp, "r") as f:  # every link resolves to a dataset of the planned shape
            for (t, s), name in links.items():
                for level, fxyz in enumerate(pyramids[s][0]):
                    shape = tuple(max(1, by_view[(t, s)].shape[i] // fxyz[2 - i]) for i in range(3))
                    if f[bdv.cells_path(t, s, level)].shape != shape:
                        raise VerificationError(f"{name}: {bdv.cells_path(t, s, level)} is not {shape}")

    _write_atomic(master, write_master)
    views = [bdv.View(v.timepoint, v.setup, v.shape, v.dtype, None) for v in plan.views]
    xml = bdv.xml_text(os.path.basename(master), views, plan.setups,
                       partitions=[(p["name"], p["timepoints"], p["setups"]) for p in parts])

    def write_xml(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(xml)

    _write_atomic(output, write_xml)
    raw = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in plan.views)
    stored = sum(r["stored_bytes"] for r in results.values())
    written = [r for r in results.values() if not r.get("skipped")]
    manifest = {
        "format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": plan.description,
        "xml": os.path.basename(output), "master": os.path.basename(master), "pipeline": pipeline,
        "lossless": job["lossless"], "raw_bytes": raw, "stored_bytes": stored,
        "partitions": [{"name": p["name"], "timepoints": p["timepoints"], "setups": p["setups"],
                        "sources": results[p["name"]]["record"]["sources"],
                        "views": results[p["name"]]["record"]["views"],
                        **({"decoded_sha256": results[p["name"]]["decoded_sha256"]}
                           if "decoded_sha256" in results[p["name"]] else {})} for p in parts],
    }

    def write_manifest(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)

    _write_atomic(manifest_path, write_manifest)
    return {"xml": output, "master": master, "manifest": manifest_path, "partitions": len(parts),
            "written": len(written), "skipped": len(parts) - len(written), "raw_bytes": raw, "stored_bytes": stored,
            "written_raw_bytes": sum(r["raw_bytes"] for r in written), "workers": workers,
            "seconds": time.perf_counter() - t0, "setups": len(plan.setups),
            "timepoints": len({v.timepoint for v in plan.views}), "description": plan.description}


def plan_dict(plan):
    """A Plan as plain data (for printing)."""
    return {"views": [asdict(v) for v in plan.views], "setups": plan.setups, "description": plan.description}
