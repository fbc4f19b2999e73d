// Reads blocks of a 3-D dataset with JHDF5 (ch.systemsx.cisd.hdf5, the 19.04 API Fiji and
// BigDataViewer use) exactly as BigDataViewer's Hdf5ImageLoader does:
// int16().readMDArrayBlockWithOffset(path, blockDimensions, offset), dimensions in HDF5 (z, y, x) order.
// Usage: ReadJhdf5 FILE DATASET OUT.bin z,y,x:dz,dy,dx [z,y,x:dz,dy,dx ...]
// Writes each block's values as little-endian int16, one block after the other, to OUT.bin,
// and prints the dataset's dimensions and the sum of each block.
import ch.systemsx.cisd.base.mdarray.MDShortArray;
import ch.systemsx.cisd.hdf5.HDF5DataSetInformation;
import ch.systemsx.cisd.hdf5.HDF5Factory;
import ch.systemsx.cisd.hdf5.IHDF5Reader;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

public class ReadJhdf5 {
    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: ReadJhdf5 FILE DATASET OUT.bin z,y,x:dz,dy,dx ...");
            System.exit(2);
        }
        IHDF5Reader reader = HDF5Factory.openForReading(args[0]);
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(args[2])))) {
            HDF5DataSetInformation info = reader.object().getDataSetInformation(args[1]);
            System.out.println("dimensions " + Arrays.toString(info.getDimensions()));
            for (int i = 3; i < args.length; i++) {
                String[] parts = args[i].split(":");
                long[] offset = Arrays.stream(parts[0].split(",")).mapToLong(Long::parseLong).toArray();
                int[] size = Arrays.stream(parts[1].split(",")).mapToInt(Integer::parseInt).toArray();
                MDShortArray block = reader.int16().readMDArrayBlockWithOffset(args[1], size, offset);
                short[] flat = block.getAsFlatArray();
                ByteBuffer buf = ByteBuffer.allocate(2 * flat.length).order(ByteOrder.LITTLE_ENDIAN);
                long sum = 0;
                for (short v : flat) {
                    buf.putShort(v);
                    sum += v & 0xffff;  // BigDataViewer reads int16 cells as unsigned 16 bit
                }
                out.write(buf.array());
                System.out.println("block " + args[i] + " sum " + sum);
            }
        } finally {
            reader.close();
        }
    }
}
