"""Convert a folder of TIFF planes into a BigDataViewer XML + HDF5 (compressed, multi-resolution).

Run:  python examples/tiff_folder_to_bdv.py [FOLDER] [OUT.xml]
Without a folder it writes one with simulated planes first. The same as the command line:
    sqeazy bdv FOLDER -o OUT.xml --voxel-size 0.4,0.4,2.0
Open OUT.xml in Fiji (Plugins > BigDataViewer > Open XML/HDF5) with HDF5_PLUGIN_PATH set to
`sqeazy plugin-path` before Fiji starts.
"""
import os
import sys

import numpy as np

from sqeazy_filter.cli import main


def simulated_folder(folder="planes", n=40, height=200, width=240):
    import tifffile
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(2)
    z, y, x = np.ogrid[:n, :height, :width]
    cells = 300 * np.exp(-(((z - n / 2) / 8.0) ** 2 + ((y - 90) / 40.0) ** 2 + ((x - 130) / 50.0) ** 2))
    for i in range(n):
        plane = rng.poisson(cells[i] + 5) * 2 + 100
        tifffile.imwrite(os.path.join(folder, f"plane_{i:04d}.tif"), plane.astype(np.uint16))
    return folder


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else simulated_folder()
    xml = sys.argv[2] if len(sys.argv) > 2 else "planes.xml"
    sys.exit(main(["bdv", folder, "-o", xml, "--voxel-size", "0.4,0.4,2.0", "--force"]))
