"""Builds libh5sqeazy.so with CMake and installs it as sqeazy_filter/plugins/libh5sqeazy.so; with nvcc,
also the GPU backend as sqeazy_filter/cuda/libsqeazy_cuda.so (outside the HDF5 plugin directory)."""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def get_ext_filename(self, ext_name):
        return os.path.join(*ext_name.split(".")) + ".so"

    def build_extension(self, ext):
        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", "-DSQEAZY_TESTS=OFF"]
        configure += [f"-D{k}={v}" for k, v in os.environ.items() if k.startswith("SQEAZY_") and k.isupper() and k != "SQEAZY_LIBRARY"]
        if subprocess.run(configure).returncode != 0:
            # a broken CUDA toolkit must not cost the CPU build
            subprocess.run(configure + ["-DSQEAZY_CUDA=OFF"], check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "h5sqeazy", "-j", str(os.cpu_count() or 2)], check=True)
        install_atomic(build_dir / "libh5sqeazy.so", target)
        self.build_cuda(build_dir, target.parent.parent / "cuda" / "libsqeazy_cuda.so")

    def build_cuda(self, build_dir, target):
        """The GPU backend (docs/GPU.md) when nvcc is there; never fails the build (SQEAZY_CUDA=OFF skips)."""
        if os.environ.get("SQEAZY_CUDA", "ON").upper() in ("OFF", "0", "NO", "FALSE") or not shutil.which("nvcc"):
            return
        jobs = os.environ.get("SQEAZY_CUDA_JOBS", "2")
        if subprocess.run(["cmake", "--build", str(build_dir), "--target", "sqeazy_cuda", "-j", jobs]).returncode != 0:
            print("warning: the CUDA backend did not build; the CPU library is installed without it")
            return
        install_atomic(build_dir / "libsqeazy_cuda.so", target)


def install_atomic(built, target):
    # copy then rename: processes that have the old library mapped keep a valid file
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, target)


setup(
    ext_modules=[Extension("sqeazy_filter.plugins.libh5sqeazy", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
