"""`sqeazy bdv`: the files pass a structural check against BigDataViewer's XML/HDF5 format.

The check below is written from BigDataViewer's documented layout (bdv.img.hdf5.Util and
Hdf5ImageLoader; SpimData XML 0.2), independently of sqeazy_filter/bdv.py:
- XML: SpimData/SequenceDescription/ImageLoader[@format="bdv.hdf5"]/hdf5 (a path relative to
  the XML), ViewSetups/ViewSetup (id, size "x y z", voxelSize), Attributes for every attribute a
  setup names, Timepoints, and one ViewRegistration (affine, 12 numbers) per time point x setup;
- HDF5: sSS/resolutions (float64, levels x 3, first row 1 1 1) and sSS/subdivisions (int32,
  levels x 3) per setup; tTTTTT/sSS/L/cells per view and level, (z, y, x), size of level L =
  max(1, floor(size / factor)), int16 unless the setup group has a dataType attribute,
  compressed with filter 34075.
"""
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest

import sqeazy_filter
from conftest import camera_stack, data_file
from sqeazy_filter.cli import main

tifffile = pytest.importorskip("tifffile")


def check_bdv(xml_path):
    """Return a list of problems (empty: the pair is a valid BigDataViewer HDF5 dataset)."""
    problems = []
    root = ET.parse(xml_path).getroot()
    if root.tag != "SpimData":
        return [f"root element {root.tag}, expected SpimData"]
    seq = root.find("SequenceDescription")
    loader = seq.find("ImageLoader") if seq is not None else None
    if loader is None or loader.get("format") != "bdv.hdf5":
        return ["no SequenceDescription/ImageLoader with format bdv.hdf5"]
    h5_el = loader.find("hdf5")
    base = xml_path.parent
    h5_path = base / h5_el.text if h5_el.get("type", "relative") == "relative" else h5_el.text
    setups = {}
    for s in seq.find("ViewSetups").findall("ViewSetup"):
        sid = int(s.find("id").text)
        size = [int(v) for v in s.find("size").text.split()]
        vox = s.find("voxelSize")
        if len(size) != 3 or vox is None or len(vox.find("size").text.split()) != 3 or vox.find("unit") is None:
            problems.append(f"setup {sid}: size/voxelSize malformed")
        setups[sid] = size
        attrs = s.find("attributes")
        for a in (attrs if attrs is not None else []):
            defs = seq.find("ViewSetups").findall(f"Attributes[@name='{a.tag}']")
            ids = [int(e.find("id").text) for d in defs for e in d]
            if int(a.text) not in ids:
                problems.append(f"setup {sid}: attribute {a.tag}={a.text} has no Attributes definition")
    tp = seq.find("Timepoints")
    if tp.get("type") == "range":
        timepoints = list(range(int(tp.find("first").text), int(tp.find("last").text) + 1))
    elif tp.get("type") == "list":
        timepoints = [int(v) for v in tp.find("integerpattern").text.replace(",", " ").split()]
    else:
        return problems + [f"Timepoints type {tp.get('type')} not checked"]
    regs = {(int(r.get("timepoint")), int(r.get("setup"))): r for r in root.find("ViewRegistrations")}
    for t in timepoints:
        for sid in setups:
            r = regs.get((t, sid))
            if r is None:
                problems.append(f"no ViewRegistration for timepoint {t} setup {sid}")
                continue
            for vt in r.findall("ViewTransform"):
                if vt.get("type") != "affine" or len(vt.find("affine").text.split()) != 12:
                    problems.append(f"view {t},{sid}: ViewTransform is not a 12-number affine")
    with h5py.File(h5_path, "r") as f:
        for sid, size_xyz in setups.items():
            g = f"s{sid:02d}"
            if f"{g}/resolutions" not in f or f"{g}/subdivisions" not in f:
                problems.append(f"{g}: resolutions/subdivisions missing")
                continue
            res, sub = f[f"{g}/resolutions"], f[f"{g}/subdivisions"]
            if res.dtype != np.float64 or sub.dtype.kind != "i" or res.ndim != 2 or res.shape[1] != 3 \
                    or sub.shape != res.shape:
                problems.append(f"{g}: resolutions {res.dtype}{res.shape} / subdivisions {sub.dtype}{sub.shape}")
                continue
            res, sub = res[...], sub[...]
            if not np.array_equal(res[0], [1, 1, 1]):
                problems.append(f"{g}: level 0 resolution is {res[0]}")
            dtype_attr = f[g].attrs.get("dataType")
            for t in timepoints:
                for level, (factors, block) in enumerate(zip(res, sub)):
                    path = f"t{t:05d}/{g}/{level}/cells"
                    if path not in f:
                        problems.append(f"{path} missing")
                        continue
                    d = f[path]
                    expected = tuple(max(1, int(size_xyz[2 - i] // factors[2 - i])) for i in range(3))
                    if d.shape != expected:
                        problems.append(f"{path}: shape {d.shape}, expected {expected}")
                    if dtype_attr is None and d.dtype != np.int16:
                        problems.append(f"{path}: {d.dtype} without a dataType attribute (BDV reads int16)")
                    if str(sqeazy_filter.FILTER_ID) not in d._filters:
                        problems.append(f"{path}: not compressed with sqeazy")
                    if d.chunks is None or any(c > b for c, b in zip(d.chunks, block[::-1])):
                        problems.append(f"{path}: chunks {d.chunks} larger than subdivisions {block}")
    return problems


def run(*argv):
    return main([str(a) for a in argv])


def test_checker_catches_a_broken_file(tmp_path):
    a = camera_stack((8, 40, 40))
    tifffile.imwrite(tmp_path / "a.tif", a, imagej=True, metadata={"axes": "ZYX"})
    assert run("bdv", tmp_path / "a.tif", "-o", tmp_path / "a.xml", "--no-progress", "-q") == 0
    assert check_bdv(tmp_path / "a.xml") == []
    with h5py.File(tmp_path / "a.h5", "a") as f:
        del f["t00000/s00/0/cells"]
        f["t00000/s00/0/cells"] = a  # uint16, uncompressed: wrong for BDV's legacy reader
    problems = check_bdv(tmp_path / "a.xml")
    assert any("without a dataType" in p for p in problems) and any("not compressed" in p for p in problems)


def test_real_stack_pyramid(tmp_path):
    with tifffile.TiffFile(data_file("lls_rbc_raw.tif")) as t:
        a = t.series[0].asarray()[:70, :, :150]
    src = tmp_path / "rbc.tif"
    tifffile.imwrite(src, a, imagej=True, metadata={"axes": "ZYX"})
    xml = tmp_path / "rbc.xml"
    assert run("bdv", src, "-o", xml, "--voxel-size", "0.1,0.1,0.3", "-p", "bitshuffle->zstd", "-q") == 0
    assert check_bdv(xml) == []
    root = ET.parse(xml).getroot()
    assert root.find(".//ViewSetup/size").text == "150 118 70"
    assert root.find(".//ViewSetup/voxelSize/size").text.split() == ["0.1", "0.1", "0.3"]
    with h5py.File(tmp_path / "rbc.h5", "r") as f:
        res = f["s00/resolutions"][...]
        assert len(res) >= 3
        level0 = f["t00000/s00/0/cells"][...]
        np.testing.assert_array_equal(level0.view(np.uint16), a)  # same bits, read as unsigned by BDV
        # level 1 is the mean of factor-sized boxes of level 0 (computed here independently)
        fx, fy, fz = (int(v) for v in res[1])
        l1 = f["t00000/s00/1/cells"][...].view(np.uint16)
        z, y, x = l1.shape
        box = a[:z * fz, :y * fy, :x * fx].reshape(z, fz, y, fy, x, fx).astype(np.float64).mean(axis=(1, 3, 5))
        assert np.abs(l1.astype(np.float64) - box).max() <= 0.5 + 1e-6


def test_time_series_of_planes(tmp_path):
    with tifffile.TiffFile(data_file("telomeres_raw_2dt.tif")) as t:
        a = t.series[0].asarray()[:6]
    src = tmp_path / "tel.tif"
    tifffile.imwrite(src, a, imagej=True, metadata={"axes": "TYX"})
    xml = tmp_path / "tel.xml"
    assert run("bdv", src, "-o", xml, "-q") == 0
    assert check_bdv(xml) == []
    tp = ET.parse(xml).getroot().find(".//Timepoints")
    assert (tp.find("first").text, tp.find("last").text) == ("0", "5")
    with h5py.File(tmp_path / "tel.h5", "r") as f:
        for t in range(6):
            np.testing.assert_array_equal(f[f"t{t:05d}/s00/0/cells"][0].view(np.uint16), a[t])


def test_several_inputs_as_setups_and_timepoints(tmp_path):
    stacks = [camera_stack((6, 30, 34), seed=i) for i in range(4)]
    paths = []
    for i, s in enumerate(stacks):
        paths.append(tmp_path / f"t{i // 2}_c{i % 2}.tif")
        tifffile.imwrite(paths[-1], s, imagej=True, metadata={"axes": "ZYX"})
    xml = tmp_path / "multi.xml"
    assert run("bdv", *paths, "--setups", "2", "-o", xml, "-q", "--levels", "2") == 0
    assert check_bdv(xml) == []
    root = ET.parse(xml).getroot()
    assert len(root.findall(".//ViewSetup")) == 2 and len(root.findall(".//ViewRegistration")) == 4
    with h5py.File(tmp_path / "multi.h5", "r") as f:
        for i, s in enumerate(stacks):
            np.testing.assert_array_equal(f[f"t{i // 2:05d}/s{i % 2:02d}/0/cells"][...].view(np.uint16), s)


def test_uint8_gets_data_type_attribute(tmp_path):
    with tifffile.TiffFile(data_file("lightsheet_mip_u8.tif")) as t:
        a = t.series[0].asarray()[:3, :64, :80]
    src = tmp_path / "u8.tif"
    tifffile.imwrite(src, a, imagej=True, metadata={"axes": "TYX"})
    xml = tmp_path / "u8.xml"
    assert run("bdv", src, "-o", xml, "-q") == 0
    assert check_bdv(xml) == []
    with h5py.File(tmp_path / "u8.h5", "r") as f:
        assert f["s00"].attrs["dataType"] in (b"uint8", "uint8")
        np.testing.assert_array_equal(f["t00002/s00/0/cells"][0], a[2])


def test_refuses_to_overwrite_and_bad_inputs(tmp_path, capsys):
    a = camera_stack((5, 20, 20))
    tifffile.imwrite(tmp_path / "a.tif", a)
    xml = tmp_path / "a.xml"
    assert run("bdv", tmp_path / "a.tif", "-o", xml, "-q") == 0
    before = (tmp_path / "a.h5").read_bytes()
    capsys.readouterr()
    assert run("bdv", tmp_path / "a.tif", "-o", xml, "-q") == 2
    assert "--force" in capsys.readouterr().err and (tmp_path / "a.h5").read_bytes() == before
    assert run("bdv", tmp_path / "a.tif", "-o", tmp_path / "b.h5") == 2  # must name the .xml
    assert run("bdv", tmp_path / "a.tif", tmp_path / "a.tif", tmp_path / "a.tif", "--setups", "2",
               "-o", tmp_path / "c.xml") == 2
    assert not (tmp_path / "c.xml").exists() and not (tmp_path / "c.h5").exists()
    assert not [p for p in tmp_path.iterdir() if "sqeazy-tmp" in p.name]


def test_propose_pyramid_makes_anisotropic_stacks_isotropic():
    from sqeazy_filter.bdv import propose_pyramid
    factors, blocks = propose_pyramid((200, 1024, 1024), (0.2, 0.2, 0.8))
    assert factors[0] == [1, 1, 1]
    assert factors[1] == [2, 2, 1] and factors[2] == [4, 4, 1] and factors[3] == [8, 8, 2]
    assert blocks[0][2] < blocks[0][0]  # thinner blocks along the coarse z axis
    for f in factors[1:]:
        assert all(v >= 1 for v in f)


def test_decompress_bdv_level_gives_unsigned_values(tmp_path):
    a = camera_stack((6, 30, 40)) + np.uint16(40000)  # above the int16 range
    tifffile.imwrite(tmp_path / "a.tif", a, imagej=True, metadata={"axes": "ZYX"})
    assert run("bdv", tmp_path / "a.tif", "-o", tmp_path / "a.xml", "-q") == 0
    assert run("decompress", f"{tmp_path / 'a.h5'}:/t00000/s00/0/cells", "-o", tmp_path / "back.tif", "-q") == 0
    back = tifffile.imread(tmp_path / "back.tif")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, a)
