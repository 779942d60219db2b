"""The user-data form "a folder of MNIST IDX files": a train pair and/or a t10k (test) pair of images and labels."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from . import idx
from .datasets import Dataset
from .prep import Split
from .userforms import encode_labels, short_name

IDX_NAME = re.compile(r"(train|t10k|test)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$", re.IGNORECASE)


def idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    """{(part, 'images'|'labels'): file} for the IDX files in ``folder`` (part 'train' or 't10k'; 'test' read as t10k)."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.iterdir()):
        match = IDX_NAME.search(path.name)
        if match is None or not path.is_file():
            continue
        key = ("train" if match[1].lower() == "train" else "t10k", match[2].lower())
        if key in found:
            if found[key].name.removesuffix(".gz") == path.name.removesuffix(".gz"):
                found[key] = min(found[key], path, key=lambda p: p.suffix == ".gz")  # the plain copy and its .gz: keep the plain
                continue
            raise DataFileError(f"{folder} holds two {key[0]} {key[1]} files ({found[key].name} and {path.name}); keep one")
        found[key] = path
    return found


def from_idx_folder(folder: Path, found: dict[tuple[str, str], Path], for_evaluation: bool) -> Dataset:
    """Train (and test) pairs of IDX files; for evaluation the t10k pair alone is enough."""
    for part in ("train", "t10k"):
        kinds = [kind for kind in ("images", "labels") if (part, kind) in found]
        if len(kinds) == 1:
            missing = "labels" if kinds[0] == "images" else "images"
            raise DataFileError(f"{folder} holds {found[(part, kinds[0])].name} but no matching {part} {missing} file")
    parts = [part for part in ("train", "t10k") if (part, "images") in found]
    if for_evaluation:
        parts = parts[-1:]  # the test pair when there is one
    elif parts == ["t10k"]:
        raise DataFileError(
            f"{folder} holds only a test pair (t10k images and labels); training needs the train pair too "
            "(a test pair alone is enough for evaluate)"
        )
    pairs = [idx.load_pair(found[(part, "images")], found[(part, "labels")], part, max_label=None) for part in parts]
    shapes = {pair[0].shape[1:] for pair in pairs}
    if len(shapes) > 1:
        train, test = ("x".join(map(str, pair[0].shape[1:])) for pair in pairs)
        raise DataFileError(f"{folder}: train images are {train} but test images are {test}; both must come from one data set")
    counts = [pair[1].size for pair in pairs]
    labels, names, n_classes = encode_labels(np.concatenate([pair[1] for pair in pairs]), str(folder))
    X = [pair[0].reshape(pair[0].shape[0], -1) / 255.0 for pair in pairs]
    test = Split(X[1], labels[counts[0] :]) if len(pairs) == 2 else None
    shape = tuple(int(n) for n in pairs[0][0].shape[1:])
    return Dataset(
        short_name(folder),
        X[0],
        labels[: counts[0]],
        n_classes,
        shape,
        test,
        pixel_scale=255.0,
        class_names=names,
        source=str(folder),  # type: ignore[arg-type]
    )
