/* libsqeazy_cuda_emul.so: the GPU engine on the CPU EMULATION backend, with the C API of
 * csrc/cuda/sqz_cuda.h. Tests point SQEAZY_CUDA_LIBRARY at it to run the HDF5 filter's and
 * Python's GPU code paths without a GPU (tests/test_gpu.py). Never installed; its one
 * "device" is named "CPU emulation (no GPU)". */
#include "emul_backend.h"

#include "../../csrc/cuda/engine.h"
