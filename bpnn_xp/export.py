"""``bpnn export RUN --format onnx|course``: a saved model written in another format, the run folder left untouched.

The model is read with ``checkpoint.load_model`` (which never writes) and the new file is written atomically;
an existing file is replaced only with ``overwrite``.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import load_model
from .errors import BpnnValueError

FORMATS = {"onnx": "an ONNX graph (raw pixels in, probabilities and class out)",
           "course": "the course's ex4weights.mat layout (Theta1, Theta2)"}  # fmt: skip


def export_model(model: str | Path, path: str | Path, format: str = "onnx", overwrite: bool = False) -> Path:
    """Write the saved model at ``model`` to ``path`` in ``format`` (onnx or course); returns the path written."""
    key = str(format).strip().lower()
    if key not in FORMATS:
        raise BpnnValueError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}")
    saved = load_model(model)
    if saved.path is not None and Path(path).resolve() in (saved.path.resolve(), saved.path.with_suffix(".json").resolve()):
        raise BpnnValueError(f"--out {path} is the model being exported; give another file name, such as model.{key}")
    if key == "course":
        from .course import export_course

        return export_course(saved, path, overwrite)
    from .onnx_export import export_onnx

    return export_onnx(saved, path, overwrite)
