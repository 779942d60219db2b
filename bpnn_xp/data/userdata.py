"""A user's own data for train, evaluate and plot (``--data PATH``), read into a :class:`Dataset` that records its
input convention (pixel scale, image shape, class names) so that a trained model can apply it again.

Accepted: an ``.npz`` with arrays X and y; a ``.csv`` with one label column and numeric features; a folder with one
sub-folder of images per class; a folder of MNIST-style IDX files; the course ``.mat`` file. Every file is untrusted:
nothing is unpickled, and whatever cannot become correct numbers is one DataFileError line naming the file and the fix.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import BpnnValueError, DataFileError, SettingFileError
from . import idx, images, matfile
from .datasets import Dataset
from .npz import read_npz
from .prep import Split
from .scaling import detect_pixel_scale, scale_like_training

ACCEPTED = (
    "an .npz file with arrays X and y, a .csv file (a label column and numeric features), a folder holding one "
    "sub-folder of images per class, a folder of MNIST IDX files, or the course .mat file"
)
MAX_CLASSES = 1000  # more distinct labels than this means the wrong label column, not a classification task
CSV_BLOCK_ROWS = 4096  # rows parsed into one float64 block at a time, so a large CSV never becomes Python lists
DEFAULT_IMAGE_SHAPE = (28, 28)
IDX_NAME = re.compile(r"(train|t10k|test)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$", re.IGNORECASE)


def load_user_data(
    path: str | Path,
    label_column: str | None = None,
    image_shape: tuple[int, int] | None = None,
    for_evaluation: bool = False,
    pixel_scale: float | None = None,
) -> Dataset:
    """The data at ``path`` as a Dataset (see the module docstring for the forms).

    ``label_column``: the CSV label column (a header name, or a position: 0 = first, -1 = last; default first).
    ``image_shape``: the size image folders are normalised to (default 28x28; give the model's when evaluating).
    ``for_evaluation``: the data will be scored, not trained on: one class is enough, an IDX folder may hold only
    its t10k pair, and X/labels are the rows to score (the t10k pair when an IDX folder holds both).
    ``pixel_scale``: a trained model's; .npz/.csv values are then scaled like its training data instead of detected.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data {path} does not exist; give {ACCEPTED}")
    if path.is_dir():
        found = _idx_files(path)
        dataset = _from_idx_folder(path, found, for_evaluation) if found else _from_image_folder(path, image_shape)
    elif path.suffix.lower() in (".npz", ".csv"):
        reader = read_npz if path.suffix.lower() == ".npz" else (lambda p: _read_csv(p, label_column))
        raw, values, shape = reader(path)
        dataset = _from_arrays(path, raw, values, shape or image_shape, pixel_scale)
    elif path.suffix.lower() == ".mat":
        X, labels = matfile.load_course_mat(path)
        dataset = Dataset(_short_name(path), X, labels, 10, (20, 20), pixel_scale=1.0, source=str(path))
    else:
        raise DataFileError(f"{path} is not a data file bpnn_xp reads; give {ACCEPTED}")
    _check_classes(dataset, for_evaluation)
    return dataset


def _short_name(path: Path) -> str:
    """A short name for reports: the file's stem or the folder's name."""
    return (path.stem if path.is_file() else path.resolve().name) or "data"


def _check_classes(dataset: Dataset, for_evaluation: bool) -> None:
    """Training needs rows of at least two classes; evaluation at least one row."""
    present = np.unique(dataset.labels).size
    if dataset.labels.size == 0:
        raise DataFileError(f"{dataset.source} holds no rows; give at least one labelled example")
    if not for_evaluation and present < 2:
        raise DataFileError(f"{dataset.source} holds only one class; training needs examples of at least two classes")


# ---------------------------------------------------------------- labels


def encode_labels(values: np.ndarray, where: str) -> tuple[np.ndarray, list[str] | None, int]:
    """(class indices, class names or None, class count) from integer, whole-float or text labels.

    Integers 0..K-1 (all present) stay as they are with no names; other integers and text become indices into
    their sorted distinct values (numerically sorted when all are whole numbers), which are the class names.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataFileError(f"{where}: labels must be one value per row (a vector); got shape {values.shape}")
    if values.dtype.kind in ("U", "S"):
        values = _text_labels(values, where)
    whole = _whole_labels(values, where)
    classes = np.unique(whole)
    if classes.size > MAX_CLASSES:
        raise DataFileError(
            f"{where}: labels take {classes.size} different values (over {MAX_CLASSES}); is the label column right?"
        )
    if whole.dtype.kind != "U" and whole.size and classes[-1] == classes.size - 1:
        return whole, None, int(classes.size)
    return np.searchsorted(classes, whole).astype(np.int64), [str(c) for c in classes], int(classes.size)


def _text_labels(values: np.ndarray, where: str) -> np.ndarray:
    """Text labels as integers when all are whole numbers, else as stripped text with sorted distinct values."""
    try:
        text = np.char.strip(values.astype(np.str_))
    except UnicodeDecodeError:
        raise DataFileError(f"{where}: labels are bytes that are not text; save them as strings or integers") from None
    if np.any(text == ""):
        row = int(np.flatnonzero(text == "")[0])
        raise DataFileError(f"{where}: the label of row {row + 1} is empty; every row needs a label")
    distinct = np.unique(text)
    if all(re.fullmatch(r"[+-]?\d{1,18}", str(t)) for t in distinct):
        return text.astype(np.int64)
    if all(_is_number(str(t)) for t in distinct):  # '1.0' from a float column is class 1; '0.25' stays a name
        numbers = text.astype(np.float64)
        if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < 2**53):
            return numbers.astype(np.int64)
        example = next(str(t) for t in distinct if float(t) != round(float(t)))
        raise SettingFileError(
            f"{where}: the label column holds fractional numbers (e.g. {example!r}), which are measurements, not classes; "
            "name the label column with label_column NAME (or a position: 0 = first, -1 = last)", "label_column"
        )
    return text  # names; _whole_labels passes text through


def _whole_labels(values: np.ndarray, where: str) -> np.ndarray:
    """Labels as int64 when numeric (whole, >= 0), text passed through."""
    kind = values.dtype.kind
    if kind == "U":
        return values
    if kind not in ("b", "i", "u", "f"):
        raise DataFileError(f"{where}: labels hold {values.dtype} values; give integers 0..K-1 or class names")
    if kind == "f" and not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
        raise DataFileError(f"{where}: labels must be whole numbers (class indices) or names; found fractional or NaN values")
    if values.size and values.min() < 0:
        raise DataFileError(f"{where}: labels must be class indices >= 0 (or names); found {values.min():g}")
    return values.astype(np.int64)


# ---------------------------------------------------------------- arrays (.npz, .csv)


def _from_arrays(
    path: Path, raw: np.ndarray, values: np.ndarray, image_shape: tuple[int, int] | None, pixel_scale: float | None
) -> Dataset:
    """A Dataset from raw feature rows and labels: values scaled (detected, or like a model's training data)."""
    where = str(path)
    if raw.shape[0] != values.shape[0]:
        raise DataFileError(f"{where}: X has {raw.shape[0]} rows but y has {values.shape[0]} labels; give one label per row")
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DataFileError(
            f"{where} holds no data (features of shape {raw.shape}); give at least one row of at least one feature"
        )
    labels, class_names, n_classes = encode_labels(values, where)
    if pixel_scale is None:
        pixel_scale = detect_pixel_scale(raw, where)
        X = raw.astype(np.float64) / pixel_scale if pixel_scale != 1 else raw.astype(np.float64)
    else:
        X = scale_like_training(raw, pixel_scale, where)
    shape = _image_shape(raw.shape[1], image_shape, pixel_scale)
    return Dataset(
        _short_name(path), X, labels, n_classes, shape, pixel_scale=float(pixel_scale), class_names=class_names, source=where
    )


def _image_shape(n_features: int, given: tuple[int, int] | None, pixel_scale: float) -> tuple[int, int] | None:
    """The rows' image shape: the one given when it fits, else square images when the values are pixels."""
    if given is not None and int(given[0]) * int(given[1]) == n_features:
        return int(given[0]), int(given[1])
    side = math.isqrt(n_features)
    if side * side != n_features or side < 2:
        return None
    # flattened images: 0..255 pixels in a square, or 0..16 pixels in 8x8 (scikit-learn's digits); other counts are tables
    return (side, side) if pixel_scale == 255 or (pixel_scale == 16 and side == 8) else None


def _read_csv(path: Path, label_column: str | None) -> tuple[np.ndarray, np.ndarray, None]:
    """(raw features, label text) from a CSV file, its header row detected."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            first = file.readline(1 << 16)
            file.seek(0)
            rows = csv.reader(file, delimiter=_delimiter(first))
            try:
                X, labels = _parse_csv(path, rows, label_column)
            except csv.Error as exc:
                raise DataFileError(f"{path}, line {rows.line_num}: {exc}; it is not a well-formed CSV file") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path} is not UTF-8 text ({exc.reason}); save it as a UTF-8 CSV file") from None
    except OSError as exc:
        raise DataFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return X, labels, None


def _delimiter(first_line: str) -> str:
    """The field separator: a comma, or ';' or a tab where the first line holds no comma."""
    if "," in first_line:
        return ","
    return next((d for d in (";", "\t") if d in first_line), ",")


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_csv(path: Path, rows: Iterator[list[str]], label_column: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows in float64 blocks and the label of each row; ragged rows and bad values named by line."""
    width = column = None
    what = "first line"
    blocks, block, lines, labels = [], [], [], []
    for row in rows:
        if not any(field.strip() for field in row):
            continue
        if width is None:
            width = len(row)
            header = _header(row, label_column)
            column = _label_position(path, header, label_column, width)
            if header is not None:
                what = "header"
                continue
        if len(row) != width:
            raise DataFileError(
                f"{path}, line {rows.line_num}: {len(row)} fields where the {what} has {width}; every row needs the same columns"
            )
        labels.append(row[column])
        block.append(row[:column] + row[column + 1 :])
        lines.append(rows.line_num)
        if len(block) == CSV_BLOCK_ROWS:
            blocks.append(_csv_block(path, block, lines, width - 1))
            block, lines = [], []
    if width is not None and width < 2:
        raise DataFileError(f"{path} has a single column; it needs a label column and at least one feature column")
    blocks.append(_csv_block(path, block, lines, max((width or 1) - 1, 0)))
    return np.concatenate(blocks), np.array(labels, dtype=np.str_)


def _header(row: list[str], label_column: str | None) -> list[str] | None:
    """The first row as column names when it is a header: a label column given by name needs one; otherwise a
    row with a field that is not a number (outside the label column, whose values may be text) is a header."""
    names = [field.strip() for field in row]
    if label_column is not None and _position(label_column) is None:
        return names
    position = _position(label_column) if label_column is not None else 0
    label_at = position % len(row) if -len(row) <= position < len(row) else None
    text = [i for i, field in enumerate(names) if not _is_number(field)]
    return names if any(i != label_at for i in text) or len(text) == len(row) else None


def _position(label_column: str) -> int | None:
    """The column position a label_column names without a header: 'first', 'last', or an integer; else None."""
    key = str(label_column).strip().lower()
    if key in ("first", "last"):
        return 0 if key == "first" else -1
    return int(key) if re.fullmatch(r"[+-]?\d+", key) else None


def _label_position(path: Path, header: list[str] | None, label_column: str | None, width: int) -> int:
    """The label column's index, by header name (exact, then ignoring case) or position; an error lists the columns."""
    if label_column is None:
        return 0
    if header is not None:
        for same in (lambda a, b: a == b, lambda a, b: a.lower() == b.lower()):
            matches = [i for i, name in enumerate(header) if same(name, str(label_column).strip())]
            if len(matches) == 1:
                return matches[0]
    position = _position(label_column)
    if position is None:
        if header is not None and all(_is_number(name) for name in header):
            raise DataFileError(
                f"{path} has no header row (its first line is numbers), so the label column must be a position "
                f"(0 = first, -1 = last), not {label_column!r}"
            )
        shown = ", ".join(header[:12]) + (", ..." if len(header or []) > 12 else "") if header else ""
        raise DataFileError(f"{path} has no column named {label_column!r}; its columns are: {shown}")
    if not -width <= position < width:
        raise DataFileError(
            f"{path} has {width} columns; label column position {position} is outside 0..{width - 1} (or -{width}..-1)"
        )
    return position % width


def _csv_block(path: Path, block: list[list[str]], lines: list[int], n_features: int) -> np.ndarray:
    """A block of rows' feature fields as a finite float64 array (NumPy parses them); a bad value is named by line."""
    try:
        values = np.array(block, dtype=np.float64).reshape(len(block), n_features)
    except ValueError:  # find the bad value row by row (float() raises, naming it)
        values = np.array([_csv_floats(path, line, fields) for line, fields in zip(lines, block)]).reshape(len(block), n_features)
    for row in np.flatnonzero(~np.isfinite(values).all(axis=1)):
        _csv_floats(path, lines[row], block[row])  # raises, naming the line, the feature and the value
    return values


def _csv_floats(path: Path, line: int, fields: list[str]) -> list[float]:
    """One row's features as finite floats, or an error naming the line, column and value."""
    try:
        values = [float(field) for field in fields]
    except ValueError:
        bad = next(i for i, field in enumerate(fields) if not _is_number(field))
        raise DataFileError(f"{path}, line {line}: feature {bad + 1} is {fields[bad].strip()!r}, not a number") from None
    if not all(math.isfinite(v) for v in values):
        bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise DataFileError(f"{path}, line {line}: feature {bad + 1} is {fields[bad].strip()!r}; features must be finite numbers")
    return values


# ---------------------------------------------------------------- image folders


def _from_image_folder(folder: Path, image_shape: tuple[int, int] | None) -> Dataset:
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
        _short_name(folder),
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


# ---------------------------------------------------------------- IDX folders


def _idx_files(folder: Path) -> dict[tuple[str, str], Path]:
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


def _from_idx_folder(folder: Path, found: dict[tuple[str, str], Path], for_evaluation: bool) -> Dataset:
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
        _short_name(folder),
        X[0],
        labels[: counts[0]],
        n_classes,
        shape,
        test,
        pixel_scale=255.0,
        class_names=names,
        source=str(folder),  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- a model's data


def check_compatible(
    dataset: Dataset, n_features: int, n_classes: int, image_shape: tuple[int, int] | None, class_names: list[str] | None
) -> None:
    """One-line DataFileError naming both sides unless ``dataset`` fits the model; then its labels (and test
    labels) are re-indexed IN PLACE to the model's class order, and its n_classes/class_names set to the model's.

    A data set holding a subset of the model's classes is fine; a label the model does not know is not.
    """
    where = dataset.source or dataset.name
    if dataset.n_features != n_features:
        raise DataFileError(
            f"{where} has {_features(dataset.n_features, dataset.image_shape)} "
            f"but the model takes {_features(n_features, image_shape)}"
        )
    if dataset.image_shape and image_shape and tuple(dataset.image_shape) != tuple(image_shape):
        raise DataFileError(f"{where} holds {_size(dataset.image_shape)} images but the model takes {_size(image_shape)} images")
    model_names = [str(n) for n in class_names] if class_names else [str(i) for i in range(n_classes)]
    if len(model_names) != n_classes:
        raise BpnnValueError(f"the model's {len(model_names)} class names do not match its {n_classes} classes")
    data_names = dataset.class_names or [str(i) for i in range(dataset.n_classes)]
    index = {name: i for i, name in enumerate(model_names)}
    present = np.unique(np.concatenate([dataset.labels] + ([dataset.test.labels] if dataset.test else [])))
    unknown = [data_names[i] for i in present if data_names[i] not in index]
    if unknown:
        shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise DataFileError(f"{where} has class(es) {shown} that the model does not know; it knows {_classes(model_names)}")
    lookup = np.array([index.get(name, -1) for name in data_names], dtype=np.int64)
    dataset.labels = lookup[dataset.labels]
    if dataset.test is not None:
        dataset.test = Split(dataset.test.X, lookup[dataset.test.labels])
    dataset.n_classes, dataset.class_names = n_classes, (list(model_names) if class_names else None)


def _features(n: int, shape: tuple[int, int] | None) -> str:
    return f"{n} features" + (f" ({_size(shape)} images)" if shape else "")


def _size(shape: tuple[int, int]) -> str:
    return "x".join(str(int(n)) for n in shape)


def _classes(names: list[str]) -> str:
    """'0..9' for default names, else the names (the first 10)."""
    if names == [str(i) for i in range(len(names))]:
        return f"{len(names)} classes 0..{len(names) - 1}"
    return f"{len(names)} classes: " + ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
