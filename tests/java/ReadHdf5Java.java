// Reads blocks of a 3-D integer dataset with the HDF Group's Java bindings (hdf.hdf5lib.H5),
// selecting a hyperslab and reading it as native 16-bit integers.
// Usage: ReadHdf5Java FILE DATASET OUT.bin z,y,x:dz,dy,dx [z,y,x:dz,dy,dx ...]
// Writes each block as little-endian int16 to OUT.bin and prints whether the filter is available.
import hdf.hdf5lib.H5;
import hdf.hdf5lib.HDF5Constants;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

public class ReadHdf5Java {
    static final int SQEAZY_FILTER_ID = 34075;

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: ReadHdf5Java FILE DATASET OUT.bin z,y,x:dz,dy,dx ...");
            System.exit(2);
        }
        long file = H5.H5Fopen(args[0], HDF5Constants.H5F_ACC_RDONLY, HDF5Constants.H5P_DEFAULT);
        long dset = H5.H5Dopen(file, args[1], HDF5Constants.H5P_DEFAULT);
        long fspace = H5.H5Dget_space(dset);
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(args[2])))) {
            int rank = H5.H5Sget_simple_extent_ndims(fspace);
            long[] dims = new long[rank];
            H5.H5Sget_simple_extent_dims(fspace, dims, null);
            System.out.println("dimensions " + Arrays.toString(dims));
            for (int i = 3; i < args.length; i++) {
                String[] parts = args[i].split(":");
                long[] offset = Arrays.stream(parts[0].split(",")).mapToLong(Long::parseLong).toArray();
                long[] size = Arrays.stream(parts[1].split(",")).mapToLong(Long::parseLong).toArray();
                int n = (int) Arrays.stream(size).reduce(1, (a, b) -> a * b);
                H5.H5Sselect_hyperslab(fspace, HDF5Constants.H5S_SELECT_SET, offset, null, size, null);
                long mspace = H5.H5Screate_simple(rank, size, null);
                short[] data = new short[n];
                H5.H5Dread(dset, HDF5Constants.H5T_NATIVE_INT16, mspace, fspace, HDF5Constants.H5P_DEFAULT, data);
                H5.H5Sclose(mspace);
                ByteBuffer buf = ByteBuffer.allocate(2 * n).order(ByteOrder.LITTLE_ENDIAN);
                for (short v : data) buf.putShort(v);
                out.write(buf.array());
                System.out.println("block " + args[i] + " read");
            }
            // after the first read the plugin has been loaded (HDF5 loads plugins on demand)
            System.out.println("filter_avail " + H5.H5Zfilter_avail(SQEAZY_FILTER_ID));
        } finally {
            H5.H5Sclose(fspace);
            H5.H5Dclose(dset);
            H5.H5Fclose(file);
        }
    }
}
