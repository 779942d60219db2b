"""CUDA fast paths behind the kernels seam: one compiled kernel per hot operation of a training step.

``sources`` holds the CUDA C (one string per kernel, complete programs NVRTC compiles without CuPy's
headers), ``mirror`` runs the same text on NumPy arrays (the CPU proof of each kernel's arithmetic),
``kernels.CupyKernels`` launches them (through ``cupy.RawModule``) over flat parameter, gradient and
state buffers and a workspace, and ``nvrtc`` compiles a source for a given architecture without a GPU.
Why fusion and not a CUDA graph: docs/decisions.md.
"""
