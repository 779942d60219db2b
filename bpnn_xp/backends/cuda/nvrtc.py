"""Compile a CUDA source with NVRTC, no GPU or driver needed: the CI proof that every kernel builds.

Uses ``cupy_backends.cuda.libs.nvrtc`` (CuPy's wheel) with the ``nvidia-cuda-nvrtc-cu12`` wheel's
library; ``compute_XX`` gives PTX, ``sm_XX`` a cubin, with the options the GPU path uses.
"""

from __future__ import annotations

from . import sources


class CompileError(RuntimeError):
    """NVRTC refused a source; the message carries its log."""


def compile_source(source: str, name: str, arch: str = "compute_90") -> bytes:
    """PTX (``compute_XX``) or a cubin (``sm_XX``) of ``source`` for ``arch``, with ``sources.OPTIONS``."""
    from cupy_backends.cuda.libs import nvrtc

    program = nvrtc.createProgram(source, f"{name}.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(program, [f"-arch={arch}", *sources.OPTIONS])
        except nvrtc.NVRTCError as error:
            raise CompileError(f"{name} ({arch}): {error}\n{nvrtc.getProgramLog(program)}") from None
        return nvrtc.getPTX(program) if arch.startswith("compute_") else nvrtc.getCUBIN(program)
    finally:
        nvrtc.destroyProgram(program)
