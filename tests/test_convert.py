"""`sqeazy convert` / convert_timelapse: a time-lapse on Dask into BigDataViewer's partitioned HDF5.

- the result reads back identical to the source through the master file (h5py) and passes the
  independent BigDataViewer structure check of test_bdv.py, partitions included;
- HDF5 and Zarr sources with a time axis; the CLI through --scheduler;
- resume: a rerun writes only what is missing, keeps verified partitions untouched, refuses a
  partition that does not match, and --recheck finds a damaged one;
- a worker process killed (SIGKILL) in the middle of a task loses nothing: Dask reruns the task,
  or, when Dask gives up, the rerun completes it; no temporary file survives;
- the source files are bit for bit unchanged afterwards;
- Java (JHDF5 as in BigDataViewer, and the HDF Group's bindings) reads views through the master file.
"""
import glob
import hashlib
import json
import os
import signal
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest

import sqeazy_filter
from conftest import DATA, camera_stack

tifffile = pytest.importorskip("tifffile")
distributed = pytest.importorskip("distributed")

from sqeazy_filter import convert  # noqa: E402
from sqeazy_filter.cli import main  # noqa: E402
from test_bdv import check_bdv  # noqa: E402


# ------------------------------------------------------------------ helpers

def timelapse(n_t, n_c=1, shape=(12, 64, 80), seed=0):
    """{(t, c): stack}: slabs of the real tribolium stack when available, else simulated camera stacks."""
    real = DATA / "tribolium_lightsheet.tif"
    out = {}
    if real.exists() and n_t * n_c * shape[0] <= 100 and shape[1] <= 256 and shape[2] <= 256:
        a = tifffile.imread(real)
        for i, (t, c) in enumerate((t, c) for t in range(n_t) for c in range(n_c)):
            out[(t, c)] = np.ascontiguousarray(a[i * shape[0]:(i + 1) * shape[0], :shape[1], :shape[2]])
    else:
        for t in range(n_t):
            for c in range(n_c):
                out[(t, c)] = camera_stack(shape, seed=seed + 10 * t + c)
    return out


def write_tiffs(folder, stacks, name="t{t}_c{c}.tif"):
    folder.mkdir(parents=True, exist_ok=True)
    for (t, c), a in stacks.items():
        tifffile.imwrite(folder / name.format(t=t, c=c), a, imagej=True, metadata={"axes": "ZYX"})
    return str(folder / name)


def file_state(paths):
    """sha256, size and mtime of files: the source must be unchanged by a conversion."""
    out = {}
    for p in sorted(paths):
        st = os.stat(p)
        with open(p, "rb") as f:
            out[str(p)] = (hashlib.sha256(f.read()).hexdigest(), st.st_size, st.st_mtime_ns)
    return out


def read_views(master, stacks, level=0):
    with h5py.File(master, "r") as f:
        return {(t, c): f[f"t{t:05d}/s{c:02d}/{level}/cells"][...] for (t, c) in stacks}


def assert_identical(master, stacks):
    got = read_views(master, stacks)
    for key, a in stacks.items():
        g = got[key]
        if a.dtype == np.uint16:
            assert g.dtype == np.int16  # BigDataViewer's legacy layout: the same bits
            g = g.view(np.uint16)
        np.testing.assert_array_equal(g, a, err_msg=f"view t={key[0]} c={key[1]}")


def check_partitions(xml_path):
    """The XML's partitions cover every view once, and the master links each view to its partition."""
    root = ET.parse(xml_path).getroot()
    loader = root.find("SequenceDescription/ImageLoader")
    master = xml_path.parent / loader.find("hdf5").text
    covered = {}
    for p in loader.findall("partition"):
        path = p.find("path")
        assert path.get("type") == "relative"
        assert (xml_path.parent / path.text).is_file(), path.text
        for t in p.find("timepoints").text.split():
            for s in p.find("setups").text.split():
                assert (int(t), int(s)) not in covered
                covered[(int(t), int(s))] = path.text
    regs = {(int(r.get("timepoint")), int(r.get("setup"))) for r in root.find("ViewRegistrations")}
    assert set(covered) == regs
    with h5py.File(master, "r") as f:
        for (t, s), name in covered.items():
            link = f.get(f"t{t:05d}/s{s:02d}/0/cells", getlink=True)
            assert isinstance(link, h5py.ExternalLink) and link.filename == name
            assert link.path == f"/t{t:05d}/s{s:02d}/0/cells"
    return covered


def tmp_leftovers(folder):
    return glob.glob(os.path.join(folder, ".*" + convert.TMP_MARK + "*"))


@pytest.fixture(scope="module")
def client():
    """One small LocalCluster shared by the tests that do not kill workers (2 processes x 1 thread)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as c:
        yield c


# ------------------------------------------------------------------ conversion

def test_tiff_pattern_reads_back_identical(tmp_path, client):
    stacks = timelapse(3, 2)
    pattern = write_tiffs(tmp_path / "raw", stacks)
    before = file_state(glob.glob(str(tmp_path / "raw" / "*")))
    out = tmp_path / "out"
    out.mkdir()
    summary = convert.convert_timelapse(pattern, out / "exp.xml", scheduler=client, pipeline="bitshuffle->zstd",
                                        block_xyz=(32, 32, 8))
    assert (summary["partitions"], summary["written"], summary["skipped"]) == (3, 3, 0)
    assert check_bdv(out / "exp.xml") == []
    assert len(check_partitions(out / "exp.xml")) == 6
    assert_identical(out / "exp.h5", stacks)
    # every level is stored in the partitions, compressed; the master holds links only
    with h5py.File(out / "exp-01-00.h5", "r") as f:
        assert str(sqeazy_filter.FILTER_ID) in f["t00001/s01/1/cells"]._filters
        record = json.loads(f.attrs[convert.RECORD_ATTR])
    key = (record["views"][1]["timepoint"], record["views"][1]["setup"])
    assert record["views"][1]["source_sha256"] == hashlib.sha256(stacks[key].tobytes()).hexdigest()
    manifest = json.loads((out / "exp.manifest.json").read_text())
    assert [p["name"] for p in manifest["partitions"]] == ["exp-00-00.h5", "exp-01-00.h5", "exp-02-00.h5"]
    assert manifest["lossless"] is True
    assert os.path.getsize(out / "exp.h5") < 64 * 1024
    assert file_state(glob.glob(str(tmp_path / "raw" / "*"))) == before
    assert tmp_leftovers(out) == []


def test_hdf5_and_zarr_sources(tmp_path, client):
    zarr = pytest.importorskip("zarr")
    stacks = timelapse(2, 2, shape=(6, 40, 48))
    tczyx = np.stack([np.stack([stacks[(t, c)] for c in range(2)]) for t in range(2)])
    with h5py.File(tmp_path / "src.h5", "w") as f:
        f.create_dataset("movie", data=tczyx, chunks=(1, 1, 6, 40, 48))
    before = file_state([tmp_path / "src.h5"])
    s = convert.convert_timelapse(str(tmp_path / "src.h5") + ":/movie", tmp_path / "h.xml", scheduler=client,
                                  setups_per_partition=1, timepoints_per_partition=2)
    assert (s["partitions"], s["timepoints"], s["setups"]) == (2, 2, 2)
    assert check_bdv(tmp_path / "h.xml") == []
    assert set(check_partitions(tmp_path / "h.xml").values()) == {"h-00-00.h5", "h-00-01.h5"}
    assert_identical(tmp_path / "h.h5", stacks)
    assert file_state([tmp_path / "src.h5"]) == before

    # Zarr, channel axis first and time second: --axes says so
    arr = zarr.create_array(store=str(tmp_path / "src.zarr"), shape=(2, 2, 6, 40, 48), chunks=(1, 1, 6, 40, 48),
                            dtype="uint16")
    arr[...] = tczyx.transpose(1, 0, 2, 3, 4)
    s = convert.convert_timelapse(str(tmp_path / "src.zarr"), tmp_path / "z.xml", axes="CTZYX", scheduler=client)
    assert s["partitions"] == 2
    assert_identical(tmp_path / "z.h5", stacks)


def test_cli_with_scheduler_address(tmp_path, client, capsys):
    stacks = timelapse(2, 1, shape=(8, 48, 40))
    pattern = write_tiffs(tmp_path / "raw", stacks, name="stack_{t}.tif")
    xml = tmp_path / "exp.xml"
    assert main(["convert", pattern, "-o", str(xml), "--scheduler", client.scheduler.address, "-q"]) == 0
    assert_identical(tmp_path / "exp.h5", {(t, 0): a for (t, _), a in stacks.items()})
    # a second run, through a scheduler file (as dask-jobqueue / `dask scheduler --scheduler-file` write
    # them), keeps both partitions and says so
    # (written by hand: distributed's write_scheduler_file dumps the whole scheduler identity,
    # which fails on tuple keys once other test modules have run in this process)
    (tmp_path / "scheduler.json").write_text(json.dumps({"type": "Scheduler", "address": client.scheduler.address}))
    capsys.readouterr()
    assert main(["convert", pattern, "-o", str(xml), "--scheduler", str(tmp_path / "scheduler.json")]) == 0
    assert "0 written, 2 kept" in capsys.readouterr().out
    import dask
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(["convert", pattern, "-o", str(xml), "--scheduler", "tcp://127.0.0.1:1", "--force", "-q"]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_uses_the_client_it_was_given(tmp_path, client):
    """Another Client made later (Dask's default client) must not capture the conversion's futures."""
    stacks = timelapse(2, 1, shape=(4, 32, 40))
    pattern = write_tiffs(tmp_path / "raw", stacks)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=50) as other_cluster, distributed.Client(other_cluster):
        done = {}
        t = threading.Thread(target=lambda: done.update(s=convert.convert_timelapse(pattern, tmp_path / "e.xml",
                                                                                    scheduler=client)))
        t.start()
        t.join(timeout=120)
        assert "s" in done, "the conversion did not finish: it waited on another client's event loop"
    assert_identical(tmp_path / "e.h5", stacks)


# ------------------------------------------------------------------ bad input: clear errors, nothing written

@pytest.mark.parametrize("case", ["missing_file", "shape_mismatch", "dtype", "no_match", "gap", "bad_output",
                                  "output_exists"])
def test_bad_input_is_refused_before_any_work(tmp_path, case, capsys):
    stacks = timelapse(3, 2, shape=(4, 32, 32))
    pattern = write_tiffs(tmp_path / "raw", stacks)
    out = tmp_path / "exp.xml"
    expect = {"missing_file": "t=1 c=1", "shape_mismatch": "t2_c0.tif: shape", "dtype": "does not support dtype float64",
              "no_match": "no files match", "gap": "time points 1 are missing", "bad_output": "must be the .xml",
              "output_exists": "exists and holds no partition"}[case]
    if case == "missing_file":
        os.unlink(tmp_path / "raw" / "t1_c1.tif")
    elif case == "shape_mismatch":
        tifffile.imwrite(tmp_path / "raw" / "t2_c0.tif", np.zeros((5, 32, 32), np.uint16))
    elif case == "dtype":
        for key in stacks:
            tifffile.imwrite(tmp_path / "raw" / "t{}_c{}.tif".format(*key), np.zeros((4, 32, 32), np.float64))
    elif case == "no_match":
        pattern = str(tmp_path / "raw" / "nothing_{t}.tif")
    elif case == "gap":
        for c in range(2):
            os.unlink(tmp_path / "raw" / f"t1_c{c}.tif")
    elif case == "bad_output":
        out = tmp_path / "exp.h5"
    elif case == "output_exists":
        out.write_text("<SpimData/>")
    with pytest.raises(convert.ConvertError, match=expect):
        convert.convert_timelapse(pattern, out, n_workers=1)
    assert not glob.glob(str(tmp_path / "exp*.h5"))
    # the command line: one line, exit status 2
    assert main(["convert", pattern, "-o", str(out), "-w", "1", "-q"]) == 2
    assert expect in capsys.readouterr().err


def test_failed_verification_keeps_nothing(tmp_path):
    """convert_partition run in-process: a view that changed since planning, and a record that does not
    match the data, both fail without leaving a partition or a temporary file."""
    stacks = timelapse(1, 1, shape=(4, 32, 32))
    pattern = write_tiffs(tmp_path / "raw", stacks)
    plan = convert.plan_source(pattern)
    ref = plan.views[0]
    job = {"folder": str(tmp_path), "pipeline": "bitshuffle->lz4", "block_size": 0, "threads": 1, "levels": None,
           "block_xyz": None, "setups": plan.setups, "lossless": True, "force": False}
    pyr = sqeazy_filter.bdv.propose_pyramid(ref.shape, plan.setups[0]["voxel_size"])
    expect = convert._jsonable({"format": convert.FORMAT, "sources": convert._fingerprint([ref]), "settings": {
        "pipeline": "bitshuffle->lz4", "block_size": 0, "pyramids": {"0": pyr},
        "views": [[0, 0, list(ref.shape), ref.dtype]]}})
    bad = convert.ViewRef(**{**ref.__dict__, "shape": (5, 32, 32)})
    with pytest.raises(sqeazy_filter.io.InputError, match="differs from the planned"):
        convert.convert_partition(job, {"name": "p.h5", "views": [bad], "expect": expect})
    result = convert.convert_partition(job, {"name": "p.h5", "views": [ref], "expect": expect})
    assert not result["skipped"] and (tmp_path / "p.h5").exists()
    record = result["record"]
    record["views"][0]["source_sha256"] = "0" * 64
    with pytest.raises(convert.VerificationError, match="record did not read back"):
        convert.verify_partition(str(tmp_path / "p.h5"), record, lossless=True)
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f.attrs[convert.RECORD_ATTR] = json.dumps(record, sort_keys=True)
    with pytest.raises(convert.VerificationError, match="differs from the source"):
        convert.verify_partition(str(tmp_path / "p.h5"), record, lossless=True)
    assert tmp_leftovers(tmp_path) == []


# ------------------------------------------------------------------ resume

def test_resume_writes_only_what_is_missing(tmp_path, client):
    stacks = timelapse(4, 1, shape=(8, 48, 64))
    pattern = write_tiffs(tmp_path / "raw", stacks)
    out = tmp_path / "out"
    out.mkdir()
    xml = out / "exp.xml"
    first = convert.convert_timelapse(pattern, xml, scheduler=client)
    assert first["written"] == 4
    kept = {p: os.stat(out / p) for p in ("exp-00-00.h5", "exp-02-00.h5", "exp-03-00.h5")}
    # as after a crash: one partition never renamed (its temporary file is still there), no XML, no master
    os.rename(out / "exp-01-00.h5", out / ".exp-01-00.h5.sqeazy-tmp-deadbeef0000")
    os.unlink(xml)
    os.unlink(out / "exp.h5")
    second = convert.convert_timelapse(pattern, xml, scheduler=client)
    assert (second["written"], second["skipped"]) == (1, 3)
    for p, st in kept.items():  # untouched, not rewritten
        now = os.stat(out / p)
        assert (now.st_ino, now.st_mtime_ns, now.st_size) == (st.st_ino, st.st_mtime_ns, st.st_size)
    assert tmp_leftovers(out) == []
    assert check_bdv(xml) == []
    assert_identical(out / "exp.h5", stacks)

    # other settings: refused, then rewritten with --force
    with pytest.raises(convert.ConvertError, match="other settings \\(pipeline\\)"):
        convert.convert_timelapse(pattern, xml, scheduler=client, pipeline="bitshuffle->zstd")
    # a damaged partition is found by --recheck (decoding checks every block's checksums)
    path = out / "exp-02-00.h5"
    with h5py.File(path, "r") as f:
        offset = f["t00002/s00/0/cells"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + 600)
        byte = f.read(1)
        f.seek(offset + 600)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(convert.ConvertError, match="exp-02-00.h5: VerificationError"):
        convert.convert_timelapse(pattern, xml, scheduler=client, recheck=True)
    s = convert.convert_timelapse(pattern, xml, scheduler=client, force=True)
    assert s["written"] == 4
    assert_identical(out / "exp.h5", stacks)


# ------------------------------------------------------------------ a worker killed mid-task

@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["dask-retries", "rerun-resumes"])
def test_killed_worker_loses_nothing(tmp_path, allowed_failures):
    """SIGKILL the worker process while it writes a partition (its temporary file exists).

    allowed_failures=3 (Dask's default): the scheduler gives the task to the restarted worker and
    the run completes. allowed_failures=0: Dask gives up on that task, the run reports it, and a
    rerun converts only what is missing. Either way the result is identical to the source."""
    stacks = timelapse(8, 1, shape=(24, 192, 192), seed=7)
    pattern = write_tiffs(tmp_path / "raw", stacks)
    before = file_state(glob.glob(str(tmp_path / "raw" / "*")))
    out = tmp_path / "out"
    out.mkdir()
    xml = out / "exp.xml"
    import dask
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=50)
    with cluster, distributed.Client(cluster) as c:
        pids_before = set(c.run(os.getpid).values())
        outcome = {}

        def run():
            try:
                outcome["summary"] = convert.convert_timelapse(pattern, xml, scheduler=c, retries=0,
                                                               levels=3, threads=1)
            except Exception as exc:  # noqa: BLE001 - inspected below
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        killed_during = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.is_alive():
            done = glob.glob(str(out / "exp-*.h5"))
            partial = tmp_leftovers(out)
            if done and partial:
                os.kill(pids_before.pop(), signal.SIGKILL)
                killed_during = partial[0]
                break
            time.sleep(0.002)
        worker.join(timeout=180)
        assert not worker.is_alive()
        assert killed_during is not None, "the run ended before a partition was in progress"
        assert set(c.run(os.getpid).values()).isdisjoint(pids_before | {None})
    if allowed_failures == 0:
        assert "error" in outcome, "Dask was told not to retry, so the killed task must be reported"
        assert "rerun to resume" in str(outcome["error"])
        assert not xml.exists()  # the XML appears only when every partition is there
        left = sorted(os.path.basename(p) for p in glob.glob(str(out / "exp-*.h5")))
        assert 1 <= len(left) < 8
        for name in left:  # what is there under a final name is complete and verified
            record = convert.read_record(out / name)
            convert.verify_partition(str(out / name), record, lossless=True)
        outcome["summary"] = convert.convert_timelapse(pattern, xml, n_workers=1, levels=3)
        assert outcome["summary"]["written"] == 8 - len(left)
    else:
        assert "error" not in outcome, outcome.get("error")
    assert not os.path.exists(killed_during)
    assert tmp_leftovers(out) == []
    assert check_bdv(xml) == []
    assert_identical(out / "exp.h5", stacks)
    assert file_state(glob.glob(str(tmp_path / "raw" / "*"))) == before


# ------------------------------------------------------------------ Java, as Fiji reads it

@pytest.fixture(scope="module")
def converted(tmp_path_factory, client):
    folder = tmp_path_factory.mktemp("java_convert")
    stacks = timelapse(3, 1, shape=(16, 70, 90))
    pattern = write_tiffs(folder / "raw", stacks)
    convert.convert_timelapse(pattern, folder / "exp.xml", scheduler=client, block_xyz=(32, 32, 8))
    return folder / "exp.h5", stacks


def test_java_reads_through_master(converted, tmp_path):
    from test_java import CLIENTS, java_blocks, run_java
    import shutil
    import subprocess
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("java/javac not installed (Debian: default-jdk-headless)")
    classes = tmp_path / "classes"
    classes.mkdir()
    built = {}
    for name, (cls, find) in CLIENTS.items():
        lib = find()
        if lib is not None:
            subprocess.run(["javac", "-d", str(classes), "-cp", os.pathsep.join(lib["cp"]),
                            str(Path(__file__).parent / "java" / f"{cls}.java")], check=True, capture_output=True,
                           timeout=300)
            built[name] = (cls, lib)
    if not built:
        pytest.skip("neither JHDF5 nor the HDF5 Java bindings are installed")
    master, stacks = converted
    blocks = [((0, 0, 0), (16, 70, 90)), ((8, 32, 64), (8, 32, 26))]
    for client_name in built:
        for t in (0, 2):
            out_bin = tmp_path / f"{client_name}-{t}.bin"
            r = run_java((classes, built), client_name, master, f"/t{t:05d}/s00/0/cells", blocks, out_bin,
                         sqeazy_filter.plugin_path())
            assert r.returncode == 0, r.stderr[-3000:]
            got = java_blocks(out_bin, blocks)
            np.testing.assert_array_equal(got[0].view(np.uint16), stacks[(t, 0)])
            np.testing.assert_array_equal(got[1].view(np.uint16), stacks[(t, 0)][8:16, 32:64, 64:90])

