"""CPU fast paths behind the kernels seam: NumPy ``out=`` routines, numba loops, and the BLAS passed in (NumPy's or oneMKL's)."""
