"""Reading (and writing, for tests) MNIST's IDX files, optionally gzipped, with clear errors.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian int32, then the data in C order.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import DataFileError

TYPE_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {  # name: (SHA-256 of the .gz file as published on the mirrors)
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


def read_idx(path: str | Path, expected_ndim: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (gzipped if the name ends in .gz), validated against its header."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"IDX file {path} does not exist")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataFileError(f"{path} is not a readable gzip file ({exc}); download it again") from None
    return parse_idx(raw, str(path), expected_ndim)


def parse_idx(raw: bytes, name: str = "IDX data", expected_ndim: int | None = None) -> np.ndarray:
    """Parse IDX bytes; every malformation is a DataFileError naming what is wrong."""
    if len(raw) < 4:
        raise DataFileError(f"{name} is too short to be an IDX file ({len(raw)} bytes); it is truncated")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in TYPE_CODES:
        raise DataFileError(f"{name} has a bad magic number {raw[:4].hex()}; it is not an IDX file")
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataFileError(f"{name} has {ndim} dimension(s) where {expected_ndim} were expected; is it the right file?")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{name} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(TYPE_CODES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        state = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise DataFileError(f"{name} is {state}: header {shape} needs {expected} data bytes, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array as IDX (gzipped if the name ends in .gz): the inverse of ``read_idx``."""
    array = np.asarray(array)
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}.get(array.dtype)
    if code is None:
        raise DataFileError(f"write_idx supports uint8 and int8 arrays, got {array.dtype}")
    raw = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def find_file(data_dir: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``data_dir``, or an error saying what to put there."""
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataFileError(f"{stem}[.gz] not found in {data_dir}; put the four MNIST IDX files there or add --download")


def load_mnist(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) from the IDX files in ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataFileError(f"MNIST directory {data_dir} does not exist; pass --data-dir DIR (and --download to fetch)")
    parts = []
    for prefix in ("train", "t10k"):
        images = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte"), expected_ndim=3)
        labels = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte"), expected_ndim=1)
        if images.shape[0] != labels.shape[0]:
            raise DataFileError(f"{prefix} images ({images.shape[0]}) and labels ({labels.shape[0]}) differ in count")
        if labels.size and labels.max() > 9:
            raise DataFileError(f"{prefix} labels go up to {labels.max()}; MNIST labels are 0..9")
        parts += [images, labels.astype(np.int64)]
    return tuple(parts)  # type: ignore[return-value]


def download_mnist(data_dir: str | Path, mirrors: tuple[str, ...] = MIRRORS) -> list[Path]:
    """Fetch the four gzipped MNIST files into ``data_dir``; each must match its SHA-256 before use."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for stem, sha256 in MNIST_FILES.items():
        target = data_dir / f"{stem}.gz"
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            saved.append(target)
            continue
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + target.name, timeout=60) as response:
                    payload = response.read()
            except OSError as exc:
                errors.append(f"{mirror}: {exc}")
                continue
            digest = hashlib.sha256(payload).hexdigest()
            if digest != sha256:
                errors.append(f"{mirror}: SHA-256 {digest[:12]}... does not match {sha256[:12]}...")
                continue
            partial = target.with_suffix(".gz.part")
            partial.write_bytes(payload)
            partial.replace(target)
            saved.append(target)
            break
        else:
            raise DataFileError(f"could not download {target.name}: " + "; ".join(errors))
    return saved
