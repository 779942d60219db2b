"""Turning user inputs for ``bpnn predict`` into feature rows the model was trained on.

``.npy`` arrays (n x features, n x H x W or one H x W image) are data: scaled like the training pixels
(``scaling.scale_like_training``) and never re-drawn. Image files (PNG, JPEG, ...) are drawings: ``read_gray``
decodes the first frame to gray in [0, 1] (transparency handled, 16-bit kept), then ``normalize_digit`` makes
them the way the training digits were made (polarity, crop to the ink, fit, centre by centre of mass); with
``normalize=False`` they are only resized and inverted when light. A folder stands for the inputs inside it and
a path holding * ? [ that does not exist is a glob pattern. Every file is untrusted: whatever cannot become
correct pixels is a DataFileError naming the file and the problem.
"""

from __future__ import annotations

import glob
import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import DataFileError
from .normalize import has_ink, normalize_digit, page_level
from .scaling import scale_like_training

if TYPE_CHECKING:
    from PIL import Image as PILImage

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm"}
INPUT_SUFFIXES = IMAGE_SUFFIXES | {".npy"}
WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # 16-bit (and 32-bit integer) grayscale, scaled by 65535
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
KIND_NAMES = {"c": "complex numbers", "V": "structured records", "U": "text", "S": "bytes", "M": "dates", "m": "time spans"}
GLOB_CHARACTERS = set("*?[")


def load_inputs(
    paths: list[Path], n_features: int, image_shape: tuple[int, int] | None, pixel_scale: float = 1.0, normalize: bool = True
) -> tuple[np.ndarray, list[str]]:
    """(feature rows in the model's pixel units, a name per row) from .npy files, images, folders and glob patterns.

    ``pixel_scale`` is what the training pixels were divided by (255, 16, or 1 for data already in [0, 1]);
    ``normalize`` redraws images the way the training digits were made (``normalize_digit``), False only resizes.
    An image without ink is predicted anyway, with a UserWarning naming the file.
    """
    rows, names = [], []
    files = _expand(paths)
    shown = _shown_names(files)
    for path, name in zip(files, shown):
        if path.suffix.lower() == ".npy":
            block = _from_npy(path, n_features, image_shape, pixel_scale)
            rows.append(block)
            names += [f"{name}[{i}]" for i in range(len(block))]
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            if image_shape is None:
                raise DataFileError(f"{path}: this model was not trained on images; give a .npy array of {n_features} features")
            rows.append(_from_image(path, image_shape, normalize)[None, :])
            names.append(name)
        else:
            raise DataFileError(f"{path}: unsupported input; give .npy arrays or images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return np.concatenate(rows), names


def _shown_names(files: list[Path]) -> list[str]:
    """How each input is named in the results: its base name when all sit in one folder, else its path relative to the
    folder they share (so 3/a.png and 7/a.png stay apart)."""
    folders = {path.resolve().parent for path in files}
    if len(folders) <= 1:
        return [path.name for path in files]
    root = Path(os.path.commonpath([str(path.resolve()) for path in files]))
    return [path.resolve().relative_to(root).as_posix() for path in files]


def _expand(paths: list[Path]) -> list[Path]:
    """The inputs, each folder replaced by the .npy and image files directly inside it and each glob pattern by its
    matches, sorted by name."""
    if not paths:
        raise DataFileError("no inputs given; pass .npy arrays, images or folders of them")
    expanded = []
    for path in paths:
        if path.is_dir():
            expanded += _inside(path)
        elif path.is_file():
            expanded.append(path)
        elif GLOB_CHARACTERS & set(str(path)):
            expanded += _matches(path)
        else:
            raise DataFileError(f"input {path} does not exist")
    return expanded


def _inside(folder: Path) -> list[Path]:
    """The .npy and image files directly inside a folder (not hidden ones), sorted by name."""
    inside = sorted(p for p in folder.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file() and p.name[0] != ".")
    if not inside:
        raise DataFileError(f"folder {folder} holds no .npy or image files ({', '.join(sorted(INPUT_SUFFIXES))})")
    return inside


def _matches(pattern: Path) -> list[Path]:
    """The .npy and image files a glob pattern matches (``**`` reaches into sub-folders), sorted by name."""
    found = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))
    files = [p for p in found if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES]
    if not files:
        raise DataFileError(
            f"no .npy or image files match {pattern}; check the pattern ({', '.join(sorted(INPUT_SUFFIXES))} are read)"
        )
    return files


def _from_npy(path: Path, n_features: int, image_shape: tuple[int, int] | None, pixel_scale: float) -> np.ndarray:
    """Feature rows from a .npy array, its values checked and scaled like the training pixels."""
    array = _load_npy(path)
    scaled = scale_like_training(array, pixel_scale, str(path))
    if image_shape is not None and scaled.shape[-2:] == tuple(image_shape):
        scaled = scaled.reshape(-1, n_features)
    if scaled.ndim == 1 and scaled.shape[0] == n_features:
        scaled = scaled[None, :]
    if scaled.ndim != 2 or scaled.shape[1] != n_features:
        expect = f"n x {n_features}" + (f" or n x {image_shape[0]} x {image_shape[1]}" if image_shape else "")
        raise DataFileError(f"{path} has shape {array.shape}; this model needs {expect}")
    return scaled


def _load_npy(path: Path) -> np.ndarray:
    """The array in a .npy file, never unpickled; memory-mapped first, so a header that claims more data
    than the file holds fails before anything is allocated, and only a plain numeric array is copied in."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow note on an absurd header shape
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "pickle" in str(exc) or "Python objects" in str(exc):  # never relay NumPy's hint to load pickles
            raise DataFileError(f"{path} holds pickled objects, which bpnn_xp never loads; save a numeric array") from None
        raise DataFileError(f"{path} is not a readable .npy array ({exc}); it is truncated or corrupt") from None
    if not isinstance(mapped, np.ndarray):
        mapped.close()
        raise DataFileError(f"{path} is an .npz archive, not a .npy array; save one array with numpy.save")
    kind = mapped.dtype.kind
    if kind not in ("b", "i", "u", "f"):
        raise DataFileError(f"{path} holds {KIND_NAMES.get(kind, 'values')} ({mapped.dtype}); give a real numeric array")
    if mapped.size == 0:
        raise DataFileError(f"{path} holds an empty array (shape {mapped.shape}); give at least one input")
    return np.array(mapped)


def read_gray(path: Path | str, data: bytes | None = None, max_pixels: int | None = None) -> np.ndarray:
    """The first frame of an image file as one 2-D float64 gray channel in [0, 1] (16-bit images by 65535).

    Transparency: on a mostly transparent canvas the alpha channel is the ink (opaque strokes come out black on a
    white page, whatever colour they were painted in, light or dark); a mostly opaque image is composited onto white.
    ``data``: the file's bytes (an upload), ``path`` then only names it in messages; ``max_pixels``: a size limit
    below Pillow's decompression-bomb limit (for a server), checked before anything is decoded.
    """
    with_alpha = _decode(path if data is None else io.BytesIO(data), str(path), max_pixels)
    gray, alpha = with_alpha if isinstance(with_alpha, tuple) else (with_alpha, None)
    gray = _unit_range(path, gray)
    if alpha is None:
        return gray
    alpha = alpha / 255.0
    if page_level(alpha) < 0.5:  # transparent page: the strokes are where paint was laid down
        return 1.0 - alpha
    return alpha * gray + (1.0 - alpha)  # composited onto a white page


def _unit_range(path: Path, raw: np.ndarray) -> np.ndarray:
    """Decoded gray values scaled to [0, 1]: 8-bit by 255, 16-bit (and 32-bit integer) by 65535, float kept."""
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or raw.min() < 0 or raw.max() > 1:
            raise DataFileError(f"{path} holds floating-point pixels outside [0, 1]; save it as an 8- or 16-bit image")
        return raw.astype(np.float64)
    full_scale = 255.0 if raw.dtype == np.uint8 else 65535.0
    if raw.min() < 0 or raw.max() > full_scale:
        raise DataFileError(f"{path} holds pixel values from {raw.min()} to {raw.max()}; 16-bit images must lie in 0..65535")
    return raw / full_scale


def _from_image(path: Path, image_shape: tuple[int, int], normalize: bool = True) -> np.ndarray:
    """One image as a row of light-on-dark pixels in [0, 1] of ``image_shape``, redrawn like the training digits
    (or, without ``normalize``, only resized and inverted when the background is light)."""
    gray = read_gray(path)
    if not has_ink(gray):
        warnings.warn(
            f"{path} holds no ink (a blank or nearly uniform image); its prediction means nothing", UserWarning, stacklevel=3
        )
    if normalize:
        return normalize_digit(gray, image_shape).reshape(-1)
    return _resized(gray, image_shape).reshape(-1)


def _resized(gray: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """The whole image resized to ``image_shape`` and made light on dark when its background is light."""
    from PIL import Image

    resized = Image.fromarray(gray.astype(np.float32)).resize((image_shape[1], image_shape[0]), Image.Resampling.LANCZOS)
    pixels = np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)  # Lanczos overshoots at sharp edges
    return 1.0 - pixels if pixels.mean() > 0.5 else pixels


def _decode(source: Path | BinaryIO, name: str, max_pixels: int | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The first frame of an image file as gray pixels, with its alpha channel (uint8) when it has transparency."""
    from PIL import Image

    path = name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if max_pixels is not None and image.width * image.height > max_pixels:
                    raise DataFileError(f"{name} is {image.width}x{image.height} pixels, over the limit of {max_pixels:,}; "
                                        "send a smaller image")  # fmt: skip
                image.seek(0)  # animated GIF/TIFF: the first frame
                return _gray_pixels(image)
    except DataFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS
        raise DataFileError(
            f"{path} is too large to decode safely: over PIL.Image.MAX_IMAGE_PIXELS = {limit} pixels (a decompression bomb?)"
        ) from None
    except Image.UnidentifiedImageError:
        raise DataFileError(f"{path} is not a readable image (not a format Pillow reads: PNG, JPEG, GIF, BMP, TIFF...)") from None
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...) for corrupt files
        raise DataFileError(f"{path} is not a readable image ({type(exc).__name__}: {exc})") from None


def _gray_pixels(image: PILImage.Image) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """A decoded frame as gray pixels (uint8, wider integers for 16-bit, float32 for float images), plus the alpha
    channel when the frame has transparency (an alpha band or a palette/colour-key transparency)."""
    if image.mode in WIDE_MODES or image.mode == "F":
        return np.asarray(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return np.asarray(rgba.convert("L")), np.asarray(rgba.getchannel("A"))
    return np.asarray(image.convert("L"))
