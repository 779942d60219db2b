"""The user-data form "a folder holding one sub-folder of images per class": each image redrawn like the training
digits (light ink on dark, cropped, fitted and centred) at the model's image size."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from . import images
from .datasets import Dataset
from .userforms import ACCEPTED, short_name

DEFAULT_IMAGE_SHAPE = (28, 28)


def from_image_folder(folder: Path, image_shape: tuple[int, int] | None) -> Dataset:
    """One sub-folder of images per class; each image normalised like the training digits (light ink on dark)."""
    from .normalize import normalize_digit  # PIL and SciPy: imported only when a folder of images is read

    shape = tuple(int(n) for n in (image_shape or DEFAULT_IMAGE_SHAPE))
    classes = _class_folders(folder)
    files = [(label, path) for label, sub in enumerate(classes) for path in _image_files(sub)]
    X = np.empty((len(files), shape[0] * shape[1]))
    for row, (_, path) in enumerate(files):
        X[row] = normalize_digit(images.read_gray(path), shape).reshape(-1)
    labels = np.array([label for label, _ in files], dtype=np.int64)
    names = [sub.name for sub in classes]
    return Dataset(
        short_name(folder),
        X,
        labels,
        len(names),
        shape,
        pixel_scale=255.0,
        class_names=names,
        source=str(folder),  # type: ignore[arg-type]
    )


def _class_folders(folder: Path) -> list[Path]:
    """The class sub-folders, sorted by name (numerically when every name is a whole number)."""
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not subs:
        loose = [p for p in folder.iterdir() if p.suffix.lower() in images.IMAGE_SUFFIXES]
        if loose:
            raise DataFileError(
                f"{folder} holds images but no class sub-folders; put each class's images in a sub-folder named after it"
            )
        raise DataFileError(f"{folder} holds no class sub-folders of images and no IDX files; give {ACCEPTED}")
    numeric = all(re.fullmatch(r"\d+", p.name) for p in subs)
    return sorted(subs, key=lambda p: (int(p.name), p.name) if numeric else (0, p.name))


def _image_files(sub: Path) -> list[Path]:
    """The image files directly inside one class folder, sorted; an empty class folder is an error."""
    found = sorted(
        p for p in sub.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in images.IMAGE_SUFFIXES
    )
    if not found:
        raise DataFileError(
            f"class folder {sub} holds no images ({', '.join(sorted(images.IMAGE_SUFFIXES))}); add some or remove it"
        )
    return found
