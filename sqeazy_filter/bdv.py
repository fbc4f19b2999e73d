"""BigDataViewer HDF5 + XML writer with the sqeazy filter on every pyramid level.

Layout (what BigDataViewer's ``bdv.hdf5`` image loader reads):

- ``/sSS/resolutions``: float64, one row ``[x, y, z]`` downsampling factors per level;
- ``/sSS/subdivisions``: int32, one row ``[x, y, z]`` block (chunk) size per level;
- ``/tTTTTT/sSS/L/cells``: the image of time point T, setup S, level L, shape ``(z, y, x)``,
  chunked by the level's subdivisions, compressed with sqeazy.
- uint16 images are stored as int16 with the same bits and no ``dataType`` attribute: the
  legacy layout every BigDataViewer version reads as unsigned 16 bit. Other dtypes are stored
  as they are, with the setup attribute ``dataType`` (understood by recent BigDataViewer only).

The XML (SpimData 0.2) names the HDF5 file relative to itself and holds the view setups
(size, voxel size, channel/angle/illumination/tile attributes), the time points and one
calibration transform (the voxel size) per view.
"""
import math
import os
import xml.etree.ElementTree as ET

import numpy as np

from . import DEFAULT_PIPELINE, Sqeazy

#: BigDataViewer's names for the setup attribute dataType (n5 DataType strings)
DATA_TYPES = {"uint8": "uint8", "int8": "int8", "int16": "int16", "uint32": "uint32", "int32": "int32",
              "float32": "float32"}


def cells_path(timepoint, setup, level):
    return f"t{timepoint:05d}/s{setup:02d}/{level}/cells"


def propose_pyramid(shape_zyx, voxel_size_xyz=(1.0, 1.0, 1.0), block_xyz=None, min_size=32, max_levels=8):
    """Downsampling factors and blocks per level, both as [x, y, z] rows.

    Each level halves the axes whose voxels are finest (within a factor of 2), so anisotropic
    stacks (z steps larger than pixels) first become isotropic; it stops when every axis is
    smaller than `min_size` voxels. Blocks default to 64 x 64 x 64 voxels, fewer planes in z
    when z is coarser, never more than the level's size.
    """
    size = [shape_zyx[2], shape_zyx[1], shape_zyx[0]]
    vox = [float(v) for v in voxel_size_xyz]
    factors = [[1, 1, 1]]
    while len(factors) < max_levels:
        f = factors[-1]
        dims = [max(1, size[d] // f[d]) for d in range(3)]
        if all(dims[d] < 2 * min_size for d in range(3)):
            break
        eff = [vox[d] * f[d] for d in range(3)]
        finest = min(eff[d] for d in range(3) if dims[d] >= 2)
        new = [f[d] * 2 if dims[d] >= 2 and eff[d] < 2 * finest and dims[d] >= min_size else f[d] for d in range(3)]
        if new == f:
            break
        factors.append(new)
    blocks = []
    for f in factors:
        dims = [max(1, size[d] // f[d]) for d in range(3)]
        if block_xyz is not None:
            b = list(block_xyz)
        else:
            eff = [vox[d] * f[d] for d in range(3)]
            ratio = eff[2] / max(min(eff[0], eff[1]), 1e-30)
            bz = 64 if ratio < 1.5 else max(4, 64 >> min(4, int(round(math.log2(ratio)))))
            bz = min(bz, dims[2])
            # about 256 K voxels per block: thin stacks get wider blocks in x and y
            bxy = min(512, 1 << int(round(math.log2(math.sqrt(64 * 64 * 64 / bz)))))
            b = [bxy, bxy, bz]
        blocks.append([max(1, min(b[d], dims[d])) for d in range(3)])
    return factors, blocks


def downsample(block, factors_zyx, dtype):
    """Mean over factor-sized boxes (a box larger than the axis averages all of it)."""
    a = block.astype(np.float32, copy=False)
    for axis, k in enumerate(factors_zyx):
        if k == 1:
            continue
        n = a.shape[axis]
        if n < k:
            a = a.mean(axis=axis, keepdims=True, dtype=np.float64).astype(np.float32)
            continue
        m = n // k * k
        a = np.take(a, np.arange(m), axis=axis) if m != n else a
        shape = a.shape[:axis] + (m // k, k) + a.shape[axis + 1:]
        a = a.reshape(shape).mean(axis=axis + 1, dtype=np.float64).astype(np.float32)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        a = np.clip(np.rint(a), info.min, info.max)
    return a.astype(dt)


class View:
    """One 3-D image (z, y, x) of a time point and a setup, read in z slabs."""

    def __init__(self, timepoint, setup, shape_zyx, dtype, read):
        self.timepoint, self.setup = int(timepoint), int(setup)
        self.shape = tuple(int(s) for s in shape_zyx)
        self.dtype = np.dtype(dtype)
        self._read = read

    def read(self, z0, z1):
        return self._read(z0, z1)


def views_from_source(src, setup_offset=0, timepoint=None):
    """Split a source (axes from T, C, Z, Y, X; S counts as C) into 3-D views.

    Returns (views, n_setups). A source without T gives time point `timepoint` (or 0);
    without Z, views are one plane thick.
    """
    axes = src.axes.replace("S", "C")
    if len(set(axes)) != len(axes) or not set(axes) <= set("TCZYX") or not axes.endswith("YX"):
        raise ValueError(f"{src.name}: cannot map axes {src.axes!r} to BigDataViewer views "
                         "(expected letters from T, C, Z, Y, X ending in YX; use --axes)")
    shape = dict(zip(axes, src.shape))
    nt, nc, nz = shape.get("T", 1), shape.get("C", 1), shape.get("Z", 1)
    ny, nx = shape["Y"], shape["X"]
    first = axes[0]
    cache = {}

    def reader(t, c):
        def read(z0, z1):
            if first == "Z":
                slab = src.read(z0, z1)
                index = [slice(None)] + [t if a == "T" else c if a == "C" else slice(None) for a in axes[1:]]
                return np.ascontiguousarray(slab[tuple(index)]).reshape(z1 - z0, ny, nx)
            if first in "TC":
                key = t if first == "T" else c
                if cache.get("key") != key:
                    cache.clear()
                    cache["key"], cache["data"] = key, src.read(key, key + 1)[0]
                rest = axes[1:]
                data = cache["data"]
                index = [t if a == "T" else c if a == "C" else slice(None) for a in rest]
                vol = np.ascontiguousarray(data[tuple(index)])
                vol = vol.reshape(nz, ny, nx)
                return vol[z0:z1]
            # first axis is Y: a single plane
            return np.ascontiguousarray(src.read(0, ny)).reshape(1, ny, nx)[z0:z1]
        return read

    views = []
    for t in range(nt):
        for c in range(nc):
            tp = t if "T" in axes else (timepoint or 0)
            views.append(View(tp, setup_offset + c, (nz, ny, nx), src.dtype, reader(t, c)))
    return views, nc


def _level_dims(shape_zyx, f_xyz):
    return tuple(max(1, shape_zyx[i] // f_xyz[2 - i]) for i in range(3))


def write_h5(path, views, setups, pipeline=DEFAULT_PIPELINE, threads=0, block_size=0, levels=None,
             block_xyz=None, progress=None):
    """Write the HDF5 half. `setups`: {id: {"voxel_size": (x,y,z), ...}}. Returns the pyramids."""
    import h5py
    options = Sqeazy(pipeline=pipeline, threads=threads, block_size=block_size)
    pyramids = {}
    for sid, meta in setups.items():
        shape = next(v.shape for v in views if v.setup == sid)
        factors, blocks = propose_pyramid(shape, meta["voxel_size"], block_xyz,
                                          max_levels=levels if levels else 8)
        if levels and len(factors) < levels:
            pass  # the stack is too small for more levels; keep what fits
        pyramids[sid] = (factors, blocks)
    # cache enough chunks to hold one slab of every level, so partial chunks are completed in memory
    cache = 0
    for v in views:
        factors, blocks = pyramids[v.setup]
        cache = max(cache, sum(int(np.prod(_level_dims(v.shape, f)[1:])) * b[2] * v.dtype.itemsize * 2
                               for f, b in zip(factors, blocks)))
    with h5py.File(path, "w", rdcc_nbytes=min(max(cache, 16 << 20), 2 << 30), rdcc_nslots=100003, rdcc_w0=1.0) as f:
        write_setup_groups(f, pyramids, {sid: next(v.dtype for v in views if v.setup == sid) for sid in pyramids})
        for v in views:
            factors, blocks = pyramids[v.setup]
            legacy = v.dtype == np.dtype("uint16")
            store = np.dtype("int16") if legacy else v.dtype
            dsets = []
            for level, (fxyz, bxyz) in enumerate(zip(factors, blocks)):
                dims = _level_dims(v.shape, fxyz)
                chunks = tuple(min(bxyz[2 - i], dims[i]) for i in range(3))
                dsets.append(f.create_dataset(cells_path(v.timepoint, v.setup, level), shape=dims, dtype=store,
                                              chunks=chunks, **options))
            step = math.lcm(*[fx[2] for fx in factors], blocks[0][2])
            step *= max(1, 16 // step)
            for z0 in range(0, v.shape[0], step):
                z1 = min(z0 + step, v.shape[0])
                slab = v.read(z0, z1)
                for level, (fxyz, ds) in enumerate(zip(factors, dsets)):
                    fz = fxyz[2]
                    data = slab if fxyz == [1, 1, 1] else downsample(slab, (fz, fxyz[1], fxyz[0]), v.dtype)
                    lz0 = z0 // fz if v.shape[0] >= fz else 0
                    n = min(data.shape[0], ds.shape[0] - lz0)
                    if n > 0:
                        data = data[:n, :ds.shape[1], :ds.shape[2]]
                        ds[lz0:lz0 + n] = data.view(store) if legacy else data
                if progress is not None:
                    progress.update(z1 - z0)
    return pyramids


def xml_text(h5_name, views, setups, unit="\u00b5m", partitions=None):
    """The SpimData XML that points BigDataViewer at `h5_name` (relative to the XML's folder).

    partitions: for a partitioned dataset (`h5_name` is then the master file linking them),
    a list of (file name relative to the XML's folder, time point ids, setup ids).
    """
    root = ET.Element("SpimData", version="0.2")
    ET.SubElement(root, "BasePath", type="relative").text = "."
    seq = ET.SubElement(root, "SequenceDescription")
    loader = ET.SubElement(seq, "ImageLoader", format="bdv.hdf5")
    ET.SubElement(loader, "hdf5", type="relative").text = h5_name
    for name, tps, sids in partitions or ():
        part = ET.SubElement(loader, "partition")
        ET.SubElement(part, "path", type="relative").text = name
        ET.SubElement(part, "timepoints").text = " ".join(str(int(t)) for t in sorted(tps))
        ET.SubElement(part, "setups").text = " ".join(str(int(s)) for s in sorted(sids))
    vs = ET.SubElement(seq, "ViewSetups")
    channels = []
    for sid in sorted(setups):
        meta = setups[sid]
        shape = next(v.shape for v in views if v.setup == sid)
        s = ET.SubElement(vs, "ViewSetup")
        ET.SubElement(s, "id").text = str(sid)
        ET.SubElement(s, "name").text = meta.get("name", f"setup {sid}")
        ET.SubElement(s, "size").text = f"{shape[2]} {shape[1]} {shape[0]}"
        vox = ET.SubElement(s, "voxelSize")
        ET.SubElement(vox, "unit").text = meta.get("unit", unit)
        ET.SubElement(vox, "size").text = " ".join(repr(float(x)) for x in meta["voxel_size"])
        attrs = ET.SubElement(s, "attributes")
        channel = meta.get("channel", sid)
        channels.append(channel)
        ET.SubElement(attrs, "illumination").text = "0"
        ET.SubElement(attrs, "channel").text = str(channel)
        ET.SubElement(attrs, "tile").text = "0"
        ET.SubElement(attrs, "angle").text = "0"
    for name, ids in (("illumination", [0]), ("channel", sorted(set(channels))), ("tile", [0]), ("angle", [0])):
        a = ET.SubElement(vs, "Attributes", name=name)
        for i in ids:
            e = ET.SubElement(a, name.capitalize())
            ET.SubElement(e, "id").text = str(i)
            ET.SubElement(e, "name").text = str(i)
    tps = sorted({v.timepoint for v in views})
    if tps == list(range(tps[0], tps[-1] + 1)):
        t = ET.SubElement(seq, "Timepoints", type="range")
        ET.SubElement(t, "first").text = str(tps[0])
        ET.SubElement(t, "last").text = str(tps[-1])
    else:
        t = ET.SubElement(seq, "Timepoints", type="list")
        ET.SubElement(t, "integerpattern").text = ", ".join(str(x) for x in tps)
    regs = ET.SubElement(root, "ViewRegistrations")
    for v in sorted(views, key=lambda v: (v.timepoint, v.setup)):
        r = ET.SubElement(regs, "ViewRegistration", timepoint=str(v.timepoint), setup=str(v.setup))
        tr = ET.SubElement(r, "ViewTransform", type="affine")
        ET.SubElement(tr, "Name").text = "calibration"
        x, y, z = setups[v.setup]["voxel_size"]
        ET.SubElement(tr, "affine").text = f"{x!r} 0.0 0.0 0.0 0.0 {y!r} 0.0 0.0 0.0 0.0 {z!r} 0.0"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_setup_groups(f, pyramids, dtypes):
    """Write sSS/resolutions, sSS/subdivisions (and dataType when not uint16) into the open file `f`.

    pyramids: {setup: (factors, blocks)} as from propose_pyramid; dtypes: {setup: numpy dtype}.
    """
    for sid, (factors, blocks) in sorted(pyramids.items()):
        g = f.require_group(f"s{sid:02d}")
        g.create_dataset("resolutions", data=np.asarray(factors, dtype="<f8"))
        g.create_dataset("subdivisions", data=np.asarray(blocks, dtype="<i4"))
        dt = np.dtype(dtypes[sid])
        if dt != np.dtype("uint16"):
            g.attrs.create("dataType", np.bytes_(DATA_TYPES[dt.name]))  # fixed-length, as JHDF5 writes


def write_master_h5(path, pyramids, dtypes, links):
    """The master file of a partitioned dataset (BigDataViewer's partitioned HDF5 export).

    It holds the setup groups (write_setup_groups) and, for every view and level, an HDF5
    external link ``tTTTTT/sSS/L/cells`` -> the same path in the partition file.
    links: {(timepoint, setup): partition file name, relative to the master's folder}.
    """
    import h5py
    with h5py.File(path, "w") as f:
        write_setup_groups(f, pyramids, dtypes)
        for (t, sid), name in sorted(links.items()):
            for level in range(len(pyramids[sid][0])):
                cells = cells_path(t, sid, level)
                f.require_group(os.path.dirname(cells))
                f[cells] = h5py.ExternalLink(name, "/" + cells)


def write_bdv(xml_path, views, setups, pipeline=DEFAULT_PIPELINE, threads=0, block_size=0, levels=None,
              block_xyz=None, progress=None, force=False, h5_path=None):
    """Write XML_PATH and its HDF5 file (XML_PATH with .h5), each under a temporary name first.

    views: list of View; setups: {setup_id: {"voxel_size": (x, y, z), "name": ..., "unit": ...}}.
    """
    h5_path = h5_path or os.path.splitext(xml_path)[0] + ".h5"
    for p in (xml_path, h5_path):
        if os.path.exists(p) and not force:
            raise FileExistsError(f"{p} exists; use force=True (--force) to overwrite it")
    if not views:
        raise ValueError("no views to write")
    for sid in {v.setup for v in views}:
        if sid not in setups:
            raise ValueError(f"setup {sid} has no entry in setups")
        shapes = {v.shape for v in views if v.setup == sid}
        dtypes = {v.dtype for v in views if v.setup == sid}
        if len(shapes) != 1 or len(dtypes) != 1:
            raise ValueError(f"setup {sid}: all its time points need the same shape and dtype, got "
                             f"{sorted(shapes)} {sorted(map(str, dtypes))}")
        dt = dtypes.pop()
        if dt != np.dtype("uint16") and dt.name not in DATA_TYPES:
            raise ValueError(f"BigDataViewer cannot store {dt}")
    keys = [(v.timepoint, v.setup) for v in views]
    if len(set(keys)) != len(keys):
        raise ValueError("two views have the same time point and setup")
    tmp_h5 = _tmp_name(h5_path)
    tmp_xml = _tmp_name(xml_path)
    try:
        pyramids = write_h5(tmp_h5, views, setups, pipeline, threads, block_size, levels, block_xyz, progress)
        rel = os.path.relpath(os.path.abspath(h5_path), os.path.dirname(os.path.abspath(xml_path)))
        with open(tmp_xml, "w", encoding="utf-8") as f:
            f.write(xml_text(rel, views, setups))
        os.replace(tmp_h5, h5_path)
        os.replace(tmp_xml, xml_path)
    finally:
        for p in (tmp_h5, tmp_xml):
            if os.path.exists(p):
                os.unlink(p)
    return pyramids


def _tmp_name(path):
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base}.sqeazy-tmp-{os.getpid()}")
