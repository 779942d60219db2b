"""Reading (and writing, for tests) MNIST's IDX files, optionally gzipped, with clear errors.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian int32, then the data in C order. Files are untrusted: the header is checked
before anything is allocated, and reading (gzip inflation included) stops where the header says.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from ..errors import DataFileError, SettingFileError

TYPE_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {  # name: (SHA-256 of the .gz file as published on the mirrors)
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MAX_IDX_BYTES = 1 << 30  # a header claiming more (MNIST's largest file holds 47 MB) is corrupt
MAX_DOWNLOAD_BYTES = 64 << 20  # the published .gz files are at most 10 MB
CHUNK_BYTES = 1 << 20
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


class IdxHeader(NamedTuple):
    """What an IDX header claims: element type, shape, where the data starts and how many bytes it has."""

    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def read_idx(path: str | Path, expected_ndim: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (gzipped if the name ends in .gz), validated against its header."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"IDX file {path} does not exist")
    gz = path.suffix == ".gz"
    try:
        with path.open("rb") as file:
            raw = _read_bounded(gzip.GzipFile(fileobj=file) if gz else file, str(path), expected_ndim)
    except (OSError, EOFError, zlib.error) as exc:
        kind = "gzip file" if gz else "file"
        raise DataFileError(f"{path} is not a readable {kind} ({exc}); download it again") from None
    return parse_idx(raw, str(path), expected_ndim)


def _read_bounded(stream: BinaryIO, name: str, expected_ndim: int | None) -> bytearray:
    """The stream's bytes read in chunks, stopping as soon as they exceed what the IDX header claims
    (so a gzip bomb or a corrupt header never makes us inflate or allocate more than the header's size)."""
    raw, header = bytearray(), None
    while chunk := stream.read(CHUNK_BYTES):
        raw += chunk
        if header is None and len(raw) >= 4 and len(raw) >= 4 + 4 * raw[3]:
            header = _parse_header(raw, name, expected_ndim)
        if header is not None and len(raw) > header.offset + header.nbytes:
            raise DataFileError(
                f"{name} is longer than its header says: header {header.shape} needs {header.nbytes} data bytes; stopped reading"
            )
    return raw


def _parse_header(raw: bytes | bytearray, name: str, expected_ndim: int | None) -> IdxHeader:
    """The header at the start of ``raw``, checked for magic, dimensions and a plausible size."""
    if len(raw) < 4:
        raise DataFileError(f"{name} is too short to be an IDX file ({len(raw)} bytes); it is truncated")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in TYPE_CODES:
        raise DataFileError(f"{name} has a bad magic number {bytes(raw[:4]).hex()}; it is not an IDX file")
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataFileError(f"{name} has {ndim} dimension(s) where {expected_ndim} were expected; is it the right file?")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataFileError(f"{name} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = np.dtype(TYPE_CODES[code])
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if nbytes > MAX_IDX_BYTES:
        raise DataFileError(
            f"{name} claims a {shape} array of {nbytes} bytes, over the {MAX_IDX_BYTES} byte limit; its header is corrupt"
        )
    return IdxHeader(dtype, shape, offset, nbytes)


def parse_idx(raw: bytes | bytearray, name: str = "IDX data", expected_ndim: int | None = None) -> np.ndarray:
    """Parse IDX bytes; every malformation is a DataFileError naming what is wrong."""
    header = _parse_header(raw, name, expected_ndim)
    found = len(raw) - header.offset
    if found != header.nbytes:
        state = "truncated" if found < header.nbytes else "longer than its header says"
        raise DataFileError(f"{name} is {state}: header {header.shape} needs {header.nbytes} data bytes, found {found}")
    array = np.frombuffer(raw, dtype=header.dtype, offset=header.offset).reshape(header.shape)
    return array.astype(header.dtype.newbyteorder("="))


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
    raise SettingFileError(f"{stem}[.gz] not found in {str(data_dir)!r}; put the four MNIST IDX files there or add download",
                           "download")  # fmt: skip


def load_mnist(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) from the IDX files in ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise SettingFileError(f"MNIST directory {str(data_dir)!r} does not exist; pass data_dir DIR (and download to fetch)",
                               "data_dir", "download")  # fmt: skip
    train_x, train_y = _load_part(data_dir, "train")
    test_x, test_y = _load_part(data_dir, "t10k")
    if train_x.shape[1:] != test_x.shape[1:]:
        train, test = ("x".join(map(str, x.shape[1:])) for x in (train_x, test_x))
        raise DataFileError(f"{data_dir}: train images are {train} but test images are {test}; both must come from one data set")
    return train_x, train_y, test_x, test_y


def _load_part(data_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, int64 labels) of the ``prefix`` part of an MNIST folder (labels 0..9)."""
    images_path, labels_path = (find_file(data_dir, f"{prefix}-{kind}") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))
    return load_pair(images_path, labels_path, prefix)


def load_pair(
    images_path: str | Path, labels_path: str | Path, part: str = "IDX", max_label: int | None = 9
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images n x H x W, int64 labels) of one IDX pair, checked for type, emptiness and agreement;
    labels above ``max_label`` (MNIST's 9; None for any byte) are refused. ``part`` names the pair in messages."""
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = read_idx(images_path, expected_ndim=3)
    labels = read_idx(labels_path, expected_ndim=1)
    if images.dtype != np.uint8:
        raise DataFileError(f"{images_path} holds {images.dtype} pixels; MNIST images must be unsigned bytes (IDX type 0x08)")
    if labels.dtype != np.uint8:
        raise DataFileError(f"{labels_path} holds {labels.dtype} values; labels must be unsigned bytes (IDX type 0x08)")
    if images.size == 0:
        raise DataFileError(f"{images_path} holds no images (shape {images.shape}); download it again")
    if images.shape[0] != labels.shape[0]:
        raise DataFileError(f"{part} images ({images.shape[0]}) and labels ({labels.shape[0]}) differ in count")
    if max_label is not None and labels.max() > max_label:
        raise DataFileError(f"{part} labels go up to {labels.max()}; MNIST labels are 0..{max_label}")
    return images, labels.astype(np.int64)


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
                    payload = response.read(MAX_DOWNLOAD_BYTES + 1)
            except OSError as exc:
                errors.append(f"{mirror}: {exc}")
                continue
            if len(payload) > MAX_DOWNLOAD_BYTES:
                errors.append(f"{mirror}: sent more than {MAX_DOWNLOAD_BYTES} bytes")
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
