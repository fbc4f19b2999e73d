"""Builds libh5sqeazy.so with CMake and installs it as sqeazy_filter/plugins/libh5sqeazy.so."""
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
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "h5sqeazy", "-j", str(os.cpu_count() or 2)], check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        # copy then rename: processes that have the old library mapped keep a valid file
        tmp = target.with_name(target.name + ".tmp")
        shutil.copy2(build_dir / "libh5sqeazy.so", tmp)
        os.replace(tmp, target)


setup(
    ext_modules=[Extension("sqeazy_filter.plugins.libh5sqeazy", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
