"""GPU backend (docs/GPU.md).

Three kinds of evidence, named as what they are:
- EMULATION (runs everywhere with g++): the CUDA kernels and host engine compiled as host C++
  (tests/cuda_emul) against the CPU encoder/decoder, byte for byte; and the same engine as a
  library behind the HDF5 filter (SQEAZY_DEVICE=gpu) and sqeazy_filter.gpu.
- Loading: libh5sqeazy.so has no DT_NEEDED on CUDA and works where CUDA is absent.
- REAL GPU: the same byte-identity grid through libsqeazy_cuda.so on a device; skipped, with
  the reason, where no GPU is usable.
"""
import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sqeazy_filter
from sqeazy_filter import _lib, codec, gpu

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def emul_dir(tmp_path_factory):
    """A directory with test_cuda_emul and libsqeazy_cuda_emul.so: $SQEAZY_CUDA_EMUL_DIR (CI
    builds it, tests/run_all.sh), else built here with CMake (the core) and g++ (no nvcc needed)."""
    given = os.environ.get("SQEAZY_CUDA_EMUL_DIR")
    if given:
        return Path(given)
    for tool in ("cmake", "g++"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not found: cannot build the CUDA emulation")
    build = tmp_path_factory.mktemp("cuda_emul")
    run = lambda cmd: subprocess.run(cmd, check=True, capture_output=True, text=True)  # noqa: E731
    run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DSQEAZY_CUDA=OFF", "-DSQEAZY_TESTS=OFF"])
    run(["cmake", "--build", str(build), "--target", "sqz_core", "-j", "2"])
    objs = sorted(str(p) for p in (build / "CMakeFiles" / "sqz_core.dir").rglob("*.o"))
    common = ["-std=c++17", "-O2", "-ffp-contract=off", f"-I{ROOT / 'csrc/include'}", f"-I{ROOT / 'csrc'}"]
    libs = ["-llz4", "-lzstd", "-lpthread", "-lm"]
    run(["g++", *common, str(ROOT / "tests/cuda_emul/test_cuda_emul.cpp"), *objs, *libs, "-o", str(build / "test_cuda_emul")])
    run(["g++", *common, "-shared", "-fPIC", "-fvisibility=hidden", str(ROOT / "tests/cuda_emul/emul_lib.cpp"), *objs, *libs,
         f"-Wl,--version-script={ROOT / 'csrc/cuda/exports.map'}", "-o", str(build / "libsqeazy_cuda_emul.so")])
    return build


def test_emulation_kernels_match_cpu(emul_dir):
    """EMULATION: kernels + engine vs sqz_encode/sqz_decode over dtypes, shapes, block sizes, pipelines."""
    r = subprocess.run([str(emul_dir / "test_cuda_emul")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failures" in r.stdout


def _has_device_hook():
    try:
        return hasattr(ctypes.CDLL(_lib.library_path()), "sqz_device_encode")
    except OSError:
        return False


FILTER_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, h5py, sqeazy_filter
    path, pipe = sys.argv[1], sys.argv[2]
    x = ((np.arange(6 * 48 * 40) * 7919) % 3000).astype(np.uint16).reshape(6, 48, 40)
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(2, 48, 40), **sqeazy_filter.Sqeazy(pipe))
    with h5py.File(path) as f:
        y = f["x"][:]
        chunks = [f["x"].id.read_direct_chunk((i, 0, 0))[1] for i in (0, 2, 4)]
    sys.stdout.buffer.write(b"".join(chunks))
    sys.exit(0 if pipe.startswith("wnl") or (y == x).all() else 3)
""")


@pytest.mark.parametrize("pipe", ["raw", "wnl(q=1,offset=100,gain=2.5,read_noise=1.6)", "lossless",
                                  "remap->predict(mode=1)->huff", "bitshuffle->lz4"])
def test_emulated_filter_same_chunks(emul_dir, tmp_path, pipe):
    """EMULATION: the HDF5 filter with SQEAZY_DEVICE=gpu writes the CPU's chunks; a pipeline without
    GPU kernels falls back to the CPU with one note on stderr."""
    if not _has_device_hook():
        pytest.skip("the libh5sqeazy.so in use predates the GPU hook (rebuild it)")
    env = dict(os.environ, SQEAZY_LIBRARY=_lib.library_path())
    cpu = subprocess.run([sys.executable, "-c", FILTER_SCRIPT, str(tmp_path / "c.h5"), pipe], env=env, capture_output=True)
    env.update(SQEAZY_DEVICE="gpu", SQEAZY_CUDA_LIBRARY=str(emul_dir / "libsqeazy_cuda_emul.so"))
    emu = subprocess.run([sys.executable, "-c", FILTER_SCRIPT, str(tmp_path / "g.h5"), pipe], env=env, capture_output=True)
    assert cpu.returncode == 0 and emu.returncode == 0, cpu.stderr + emu.stderr
    assert emu.stdout == cpu.stdout
    notes = emu.stderr.decode().count("using the CPU")
    assert notes == (1 if pipe == "bitshuffle->lz4" else 0), emu.stderr


def test_filter_without_gpu_falls_back(tmp_path):
    """No GPU backend reachable: SQEAZY_DEVICE=gpu still works, on the CPU, saying so once."""
    if not _has_device_hook():
        pytest.skip("the libh5sqeazy.so in use predates the GPU hook (rebuild it)")
    env = dict(os.environ, SQEAZY_LIBRARY=_lib.library_path(), SQEAZY_DEVICE="gpu",
               SQEAZY_CUDA_LIBRARY=str(tmp_path / "missing.so"))
    r = subprocess.run([sys.executable, "-c", FILTER_SCRIPT, str(tmp_path / "n.h5"), "raw"], env=env, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().count("using the CPU") == 1


@pytest.fixture
def backend(request, monkeypatch, emul_dir):
    """sqeazy_filter.gpu bound to the emulation library or to the real backend (skipped without a GPU)."""
    monkeypatch.setattr(gpu, "_backend", None)
    monkeypatch.setattr(gpu, "_why", None)
    monkeypatch.setattr(gpu, "_ffi", None)
    if request.param == "emulation":
        monkeypatch.setenv("SQEAZY_CUDA_LIBRARY", str(emul_dir / "libsqeazy_cuda_emul.so"))
        assert gpu.available() and "emulation" in gpu.device_name()
    else:
        monkeypatch.delenv("SQEAZY_CUDA_LIBRARY", raising=False)
        if not gpu.available():
            pytest.skip(f"no GPU: {gpu.unavailable_reason()}")
    return request.param


GRID = [(np.uint8, (5, 33, 19)), (np.uint16, (8, 64, 70)), (np.int16, (4, 17, 13)), (np.float32, (6, 10, 10)),
        (np.int32, (3, 5, 7))]
PIPES = ["raw", "bitshuffle", "wnl(q=2,offset=90,gain=0.5,read_noise=2)->bitshuffle->raw", "lossless", "lossless3d",
         "remap->predict(mode=5)->huff", "bitshuffle->lz4"]


@pytest.mark.parametrize("backend", ["emulation", "gpu"], indirect=True)
@pytest.mark.parametrize("dtype,shape", GRID)
@pytest.mark.parametrize("pipe", PIPES)
def test_batch_api_same_bytes(backend, dtype, shape, pipe):
    """Context.compress / decompress give the CPU's chunks and data (GPU or, where the stages have
    no GPU kernel, the CPU fallback)."""
    if pipe.startswith("wnl") and np.dtype(dtype) not in (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16)):
        pytest.skip("wnl codes camera counts only")
    rng = np.random.default_rng(5)
    x = (rng.integers(0, 2000, size=shape) if np.dtype(dtype).kind != "f" else rng.normal(size=shape)).astype(dtype)
    with gpu.Context(fallback=False) as ctx:
        got = ctx.compress(x, 2, pipeline=pipe, block_size=2048)
        n = -(-shape[0] // 2)
        pad = np.zeros((n * 2,) + shape[1:], dtype)
        pad[: shape[0]] = x
        want = [codec.encode(pad[2 * i: 2 * i + 2], pipeline=pipe, block_size=2048) for i in range(n)]
        assert got == want
        back = np.empty_like(pad)
        ctx.decompress(got, back)
        ref = np.concatenate([codec.decode(c) for c in want])
        assert back.tobytes() == ref.tobytes()


def _lossless_stack(dtype, shape, kind, rng):
    """camera-like noise, values on a grid of 47 (remap's table), constant, random, checkerboard."""
    top = np.iinfo(dtype).max
    if kind == "camera":
        y, x = np.indices(shape[1:])
        x = 100 + (3 * x + 5 * y) % 50 + rng.poisson(4, size=shape)
    elif kind == "grid47":
        x = rng.integers(0, 5 if top < 256 else 40, size=shape) * 47
    elif kind == "constant":
        x = np.full(shape, 77)
    elif kind == "random":
        x = rng.integers(np.iinfo(dtype).min, top, size=shape, endpoint=True)
    else:
        x = np.where(np.indices(shape).sum(axis=0) % 2, top, 0)
    return np.asarray(x).astype(dtype)


LOSSLESS_PIPES = ["lossless", "lossless3d", "remap->predict(mode=0)->huff", "predict(mode=1)->huff",
                  "predict(mode=2)->huff", "predict(mode=3)->huff", "remap->predict(mode=4)->huff", "predict(mode=5)->huff",
                  "predict(mode=7)->huff", "remap->predict(mode=8)->huff"]


@pytest.mark.parametrize("backend", ["emulation", "gpu"], indirect=True)
@pytest.mark.parametrize("dtype,shape", [(np.uint16, (6, 130, 97)), (np.uint8, (4, 33, 19)), (np.int16, (4, 20, 300)),
                                         (np.uint16, (2, 1, 5000))])
@pytest.mark.parametrize("kind", ["camera", "grid47", "constant", "random", "checker"])
def test_lossless_on_gpu_same_bytes(backend, dtype, shape, kind):
    """The lossless pipelines (remap->predict->huff) are coded on the GPU itself (can_encode), give
    the CPU's chunks byte for byte, and the GPU decodes the CPU's chunks."""
    x = _lossless_stack(dtype, shape, kind, np.random.default_rng(11))
    with gpu.Context(fallback=False) as ctx:
        for pipe in LOSSLESS_PIPES:
            for block_size in (0, 20480):
                c_shape = gpu._ffi.new("uint64_t[]", [2] + list(shape[1:]))
                assert gpu._backend.sqz_cuda_can_encode(pipe.encode(), _lib_dtype(dtype), len(shape), c_shape) == 1
                got = ctx.compress(x, 2, pipeline=pipe, block_size=block_size)
                want = [codec.encode(x[i:i + 2], pipeline=pipe, block_size=block_size) for i in range(0, shape[0], 2)]
                assert got == want, (pipe, block_size)
                back = np.empty_like(x)
                ctx.decompress(want, back)
                assert back.tobytes() == x.tobytes(), (pipe, block_size)


LOSSLESS64_PIPES = ["lossless64", "huff64", "remap->predict(mode=1)->huff64", "predict(mode=5)->huff64",
                    "predict(mode=7)->huff64", "predict(mode=8)->huff64"]


@pytest.mark.parametrize("backend", ["emulation", "gpu"], indirect=True)
@pytest.mark.parametrize("dtype,shape", [(np.uint16, (6, 130, 97)), (np.uint8, (4, 33, 19)), (np.int16, (4, 20, 300)),
                                         (np.uint16, (2, 1, 5000)), (np.uint16, (4, 70, 94))])
@pytest.mark.parametrize("kind", ["camera", "grid47", "constant", "random", "checker"])
def test_lossless64_decodes_on_gpu(backend, dtype, shape, kind, monkeypatch):
    """huff64 chunks (lossless64) are encoded by the CPU (the GPU has no huff64 encoder: same bytes
    either way) and decoded on the GPU itself, not by the CPU fallback."""
    x = _lossless_stack(dtype, shape, kind, np.random.default_rng(12))
    with gpu.Context(fallback=False) as ctx:
        monkeypatch.setattr(ctx, "_cpu", lambda why: pytest.fail(f"decoded on the CPU: {why}"))
        for pipe in LOSSLESS64_PIPES:
            for block_size in (0, 20480):
                chunks = [codec.encode(x[i:i + 2], pipeline=pipe, block_size=block_size) for i in range(0, shape[0], 2)]
                back = np.empty_like(x)
                ctx.decompress(chunks, back)
                assert back.tobytes() == x.tobytes(), (pipe, block_size)


def _lib_dtype(dtype):
    from sqeazy_filter import _dtypes
    return _dtypes.code_of(np.dtype(dtype))


def test_context_without_gpu(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(gpu, "_backend", None)
    monkeypatch.setattr(gpu, "_why", None)
    monkeypatch.setenv("SQEAZY_CUDA_LIBRARY", str(tmp_path / "missing.so"))
    assert not gpu.available() and "no GPU backend" in gpu.unavailable_reason()
    with pytest.raises(gpu.GPUUnavailable):
        gpu.Context(fallback=False)
    with caplog.at_level("WARNING"):
        ctx = gpu.Context()
    assert not ctx.on_gpu and "using the CPU" in caplog.text
    x = np.arange(4 * 30, dtype=np.uint16).reshape(4, 30)
    chunks = ctx.compress(x, 2, pipeline="lossless")
    assert chunks == [codec.encode(x[:2], pipeline="lossless"), codec.encode(x[2:], pipeline="lossless")]


def test_import_needs_no_cuda():
    """`import sqeazy_filter` loads neither the GPU module nor any CUDA library."""
    code = ("import sys, sqeazy_filter; assert 'sqeazy_filter.gpu' not in sys.modules; "
            "maps = open('/proc/self/maps').read(); assert 'libcuda' not in maps and 'libsqeazy_cuda' not in maps")
    subprocess.run([sys.executable, "-c", code], check=True)


def _needed(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


@pytest.mark.skipif(not shutil.which("readelf"), reason="readelf not found")
def test_no_cuda_link():
    """libh5sqeazy.so (the plugin) and libsqeazy_cuda.so need neither libcuda nor libcudart at load time."""
    needed = _needed(_lib.library_path())
    assert not [n for n in needed if "cuda" in n], needed
    backend = Path(gpu.library_path())
    if backend.exists():
        needed = _needed(backend)
        assert not [n for n in needed if n.startswith(("libcuda", "libcudart"))], needed


def test_loads_with_cuda_hidden(tmp_path):
    """With every CUDA library out of reach, the plugin loads, codes chunks and reports no GPU."""
    code = ("import numpy as np, sqeazy_filter\n"
            "from sqeazy_filter import _lib\n"
            "x = np.arange(1000, dtype=np.uint16)\n"
            "assert (sqeazy_filter.decode(sqeazy_filter.encode(x)) == x).all()\n"
            "assert _lib.load().sqz_cuda_available() == 0\n")
    env = {k: v for k, v in os.environ.items() if "CUDA" not in k}
    env.update(LD_LIBRARY_PATH=str(tmp_path), SQEAZY_CUDA_LIBRARY=str(tmp_path / "missing.so"),
               SQEAZY_LIBRARY=_lib.library_path())
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_real_gpu_device_resident(monkeypatch):
    """REAL GPU: device arrays (CuPy) in and out; skipped without a GPU or CuPy."""
    _real_backend(monkeypatch)
    cp = pytest.importorskip("cupy")
    x = (np.arange(8 * 256 * 256) % 4000).astype(np.uint16).reshape(8, 256, 256)
    with gpu.Context(fallback=False) as ctx:
        chunks = ctx.compress(cp.asarray(x), 2, pipeline="raw")
        assert chunks == [codec.encode(x[i:i + 2], pipeline="raw") for i in range(0, 8, 2)]
        out = cp.empty_like(cp.asarray(x))
        ctx.decompress(chunks, out)
        assert (cp.asnumpy(out) == x).all()


def _real_backend(monkeypatch):
    monkeypatch.setattr(gpu, "_backend", None)
    monkeypatch.setattr(gpu, "_why", None)
    monkeypatch.delenv("SQEAZY_CUDA_LIBRARY", raising=False)
    if not gpu.available() or "emulation" in gpu.device_name():
        pytest.skip(f"no GPU: {gpu.unavailable_reason()}")


@pytest.mark.parametrize("pipe", ["raw", "wnl(q=1,offset=100,gain=2.5,read_noise=1.6)", "lossless",
                                  "remap->predict(mode=1)->huff", "bitshuffle->lz4"])
def test_real_gpu_filter_same_chunks(monkeypatch, tmp_path, pipe):
    """REAL GPU: the HDF5 filter with SQEAZY_DEVICE=gpu writes the CPU's chunks and uses the GPU for
    every pipeline that has kernels (no 'using the CPU' note)."""
    _real_backend(monkeypatch)
    env = dict(os.environ, SQEAZY_LIBRARY=_lib.library_path())
    cpu = subprocess.run([sys.executable, "-c", FILTER_SCRIPT, str(tmp_path / "c.h5"), pipe], env=env, capture_output=True)
    env.update(SQEAZY_DEVICE="gpu")
    dev = subprocess.run([sys.executable, "-c", FILTER_SCRIPT, str(tmp_path / "g.h5"), pipe], env=env, capture_output=True)
    assert cpu.returncode == 0 and dev.returncode == 0, cpu.stderr + dev.stderr
    assert dev.stdout == cpu.stdout
    assert dev.stderr.decode().count("using the CPU") == (1 if pipe == "bitshuffle->lz4" else 0), dev.stderr


REAL_STACKS = ["brain_2photon_crop.tif", "brain_mesospim_crop.tif", "lightsheet_mip_u8.tif", "lls_psf_raw.tif",
               "lls_rbc_raw.tif", "nuclei_confocal.tif", "telomeres_raw_2dt.tif", "tribolium_lightsheet.tif"]


@pytest.mark.parametrize("name", REAL_STACKS)
def test_real_gpu_stacks_same_bytes(monkeypatch, name):
    """REAL GPU: the real stacks, chunked by 8 planes with the default block size, give the CPU's
    chunks byte for byte (lossless, lossless3d, wnl), and the GPU decodes the CPU's chunks (also
    lossless64's)."""
    from conftest import data_file
    tifffile = pytest.importorskip("tifffile")
    _real_backend(monkeypatch)
    x = tifffile.imread(data_file(name))
    x = x.reshape((-1,) + x.shape[-2:])[:32]
    pipes = ["lossless", "lossless3d"]
    if x.dtype == np.uint16:
        pipes.append("wnl(q=1,offset=100,gain=2.5,read_noise=1.6)->raw")
    k = 8
    padded = np.zeros((-(-x.shape[0] // k) * k,) + x.shape[1:], x.dtype)
    padded[: x.shape[0]] = x
    with gpu.Context(fallback=False) as ctx:
        for pipe in pipes:
            got = ctx.compress(x, k, pipeline=pipe)
            want = [codec.encode(padded[i:i + k], pipeline=pipe) for i in range(0, padded.shape[0], k)]
            assert got == want, pipe
            back = np.empty_like(padded)
            ctx.decompress(want, back)
            ref = np.concatenate([codec.decode(c) for c in want])
            assert back.tobytes() == ref.tobytes(), pipe
        monkeypatch.setattr(ctx, "_cpu", lambda why: pytest.fail(f"decoded on the CPU: {why}"))
        want = [codec.encode(padded[i:i + k], pipeline="lossless64") for i in range(0, padded.shape[0], k)]
        back = np.empty_like(padded)
        ctx.decompress(want, back)  # huff64: decoded on the GPU
        assert back.tobytes() == padded.tobytes()


@pytest.mark.parametrize("pipe", ["lossless", "lossless3d", "wnl(q=1,offset=100,gain=2.5,read_noise=1.6)->raw"])
def test_real_gpu_device_resident_pipelines(monkeypatch, pipe):
    """REAL GPU: CuPy arrays in and out through the coded pipelines, the CPU's chunks byte for byte."""
    _real_backend(monkeypatch)
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(3)
    y, xx = np.indices((256, 300))
    x = (100 + (y + 2 * xx) % 60 + rng.poisson(20, size=(16, 256, 300))).astype(np.uint16)
    with gpu.Context(fallback=False) as ctx:
        chunks = ctx.compress(cp.asarray(x), 4, pipeline=pipe)
        assert chunks == [codec.encode(x[i:i + 4], pipeline=pipe) for i in range(0, 16, 4)]
        out = cp.zeros(x.shape, x.dtype)
        ctx.decompress(chunks, out)
        ref = np.concatenate([codec.decode(c) for c in chunks])
        assert cp.asnumpy(out).tobytes() == ref.tobytes()
