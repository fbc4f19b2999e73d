"""numpy dtypes <-> the dtype codes of the chunk format (docs/FORMAT.md)."""
import numpy as np

CODES = {
    np.dtype("uint8"): 1, np.dtype("int8"): 2, np.dtype("uint16"): 3, np.dtype("int16"): 4,
    np.dtype("uint32"): 5, np.dtype("int32"): 6, np.dtype("float32"): 7,
}
DTYPES = {code: dt for dt, code in CODES.items()}
SUPPORTED = ", ".join(str(d) for d in CODES)


def code_of(dtype):
    dt = np.dtype(dtype).newbyteorder("=") if np.dtype(dtype).byteorder == ">" else np.dtype(dtype)
    try:
        return CODES[dt]
    except KeyError:
        raise ValueError(f"sqeazy does not support dtype {np.dtype(dtype)} (supported: {SUPPORTED})") from None
