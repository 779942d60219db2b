"""The user-data form "a .csv file": one label column (a header name or position) and numeric features, its header
row and delimiter detected, parsed in float64 blocks so a large file never becomes Python lists."""

from __future__ import annotations

import csv
import itertools
import math
import operator
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError, SettingFileError
from .userforms import is_number

CSV_BLOCK_ROWS = 4096  # rows parsed into one float64 block at a time, so a large CSV never becomes Python lists


LABEL_NAMES = ("label", "labels", "digit", "class", "target", "y")  # header names read as the label column, any case
INDEX_NAMES = ("", "unnamed: 0", "index")  # a first header field like these over 0, 1, 2... is a row index (pandas' to_csv)
LAYOUT_RULE = (
    "the label column is the one --label-column names, else the one column named label, labels, digit, class, target "
    "or y (any case), else the first; an unnamed first column holding 0, 1, 2... (pandas' index) is skipped"
)


@dataclass
class Layout:
    """How a CSV file is read: its delimiter, header, label column, and a skipped row-index column."""

    delimiter: str
    header: list[str] | None
    label: int
    index: int | None = None
    why: str = "the first column"
    width: int = 0  # columns in the file

    def say(self, path: Path) -> None:
        """The layout as one note (a DataNote warning, which the CLI prints as a 'note:' line)."""
        warnings.warn(DataNote(f"{path.name}: {self.describe(self.width)}"), stacklevel=3)

    @property
    def skipped(self) -> set[int]:
        return {self.label} | ({self.index} if self.index is not None else set())

    def describe(self, width: int) -> str:
        """One line: 'labels: column 'digit' (named like a label); 784 feature columns; row index skipped'."""
        name = f"column {self.header[self.label]!r}" if self.header else f"column {self.label + 1}"
        why = self.why if self.header else f"{self.why}; no header row"
        extra = "; the first column (0, 1, 2...) is a row index, skipped" if self.index is not None else ""
        return f"labels: {name} ({why}); {width - len(self.skipped)} feature columns{extra}"

    def recipe(self) -> dict[str, Any]:
        """What a model stores so that later files are read the same way (see read_csv's ``recipe``)."""
        label = self.header[self.label] if self.header else self.label
        return {"form": "csv", "delimiter": self.delimiter, "header": self.header is not None, "label_column": label,
                "index_column": self.index is not None}  # fmt: skip


def read_csv_layout(path: Path, label_column: str | None, recipe: dict[str, Any] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, Layout]:  # fmt: skip
    """(raw features, label text, the layout used) of a CSV file, its layout found by LAYOUT_RULE (``Layout.say``
    tells it in one note line once the caller has accepted the data).

    ``recipe``: how a model's training file was read (``Layout.recipe``); its label column applies unless
    ``label_column`` is given, and its delimiter where the file's first line holds it."""
    recipe = recipe if isinstance(recipe, dict) and recipe.get("form") == "csv" else {}
    from_model = label_column is None and recipe.get("label_column") is not None
    if from_model:
        label_column = str(recipe["label_column"])
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            first = file.readline(1 << 16)
            file.seek(0)
            rows = csv.reader(file, delimiter=_delimiter(first, recipe.get("delimiter")))
            try:
                X, labels, layout = _parse_csv(path, rows, label_column, from_model)
            except csv.Error as exc:
                raise DataFileError(f"{path}, line {rows.line_num}: {exc}; it is not a well-formed CSV file") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path} is not UTF-8 text ({exc.reason}); save it as a UTF-8 CSV file") from None
    except OSError as exc:
        raise DataFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return X, labels, layout


def _delimiter(first_line: str, recorded: Any = None) -> str:
    """The field separator: the model's recorded one where the first line holds it, else a comma, or ';' or a tab
    where the first line holds no comma."""
    if isinstance(recorded, str) and len(recorded) == 1 and recorded in first_line:
        return recorded
    if "," in first_line:
        return ","
    return next((d for d in (";", "\t") if d in first_line), ",")


def _parse_csv(path: Path, rows: Iterator[list[str]], label_column: str | None, from_model: bool = False
               ) -> tuple[np.ndarray, np.ndarray, Layout]:  # fmt: skip
    """Feature rows in float64 blocks and the label of each row; ragged rows and bad values named by line."""
    filled = ((rows.line_num, row) for row in rows if any(field.strip() for field in row))  # (line, fields)
    first = list(itertools.islice(filled, 2))
    if not first:
        return np.zeros((0, 0)), np.array([], dtype=np.str_), Layout(",", None, 0)
    head = [row for _, row in first]
    width = len(head[0])
    layout = _layout(path, head, label_column, rows.dialect.delimiter, from_model)
    what = "header" if layout.header is not None else "first line"
    keep = [i for i in range(width) if i not in layout.skipped]
    features = operator.itemgetter(*keep) if keep else (lambda row: ())
    blocks, block, lines, labels, index = [], [], [], [], []
    data = itertools.chain(first[1:] if layout.header is not None else first, filled)
    for line, row in data:
        if len(row) != width:
            raise DataFileError(
                f"{path}, line {line}: {len(row)} fields where the {what} has {width}; every row needs the same columns"
            )
        labels.append(row[layout.label])
        if layout.index is not None:
            index.append(row[layout.index])
        block.append(list(features(row)) if len(keep) > 1 else [features(row)])
        lines.append(line)
        if len(block) == CSV_BLOCK_ROWS:
            blocks.append(_csv_block(path, block, lines, len(keep)))
            block, lines = [], []
    if width < 2 or not keep:
        raise DataFileError(f"{path} has a single column; it needs a label column and at least one feature column")
    blocks.append(_csv_block(path, block, lines, len(keep)))
    _check_index(path, index, layout)
    layout.width = width
    return np.concatenate(blocks), np.array(labels, dtype=np.str_), layout


class DataNote(UserWarning):
    """How a file was read, said once (the CLI prints it as a note line)."""


def _layout(path: Path, head: list[list[str]], label_column: str | None, delimiter: str, from_model: bool) -> Layout:
    """The file's layout from its first (two) rows, by LAYOUT_RULE; an ambiguous table is refused with the fix."""
    header = _header(head, label_column)
    width = len(head[0])
    index = _index_column(header, head)
    if header is not None:
        _refuse_duplicates(path, header, index)
    if label_column is not None:
        why = "as the model was trained" if from_model else "as --label-column says"
        return Layout(delimiter, header, _label_position(path, header, label_column, width), index, why)
    if header is not None:
        named = [i for i, name in enumerate(header) if name.strip().lower() in LABEL_NAMES]
        if len(named) > 1:
            shown = " and ".join(repr(header[i]) for i in named)
            raise SettingFileError(
                f"{path}: columns {shown} both look like labels; say which holds the labels with label_column NAME",
                "label_column",
            )
        if named:
            return Layout(delimiter, header, named[0], index, "named like a label")
    first = 1 if index == 0 else 0
    if first >= width:
        raise DataFileError(f"{path} has a single column; it needs a label column and at least one feature column")
    return Layout(delimiter, header, first, index, "the first column" + (" after the index" if first else ""))


def _index_column(header: list[str] | None, head: list[list[str]]) -> int | None:
    """0 when the first column is pandas' index: unnamed (checked to hold 0, 1, 2... by _check_index), or named
    'index' over a first value 0; else None."""
    if header is None or len(header) < 3 or len(head) < 2:
        return None
    name = header[0].strip().lower()
    if name in ("", "unnamed: 0") or (name in INDEX_NAMES and head[1][0].strip() == "0"):
        return 0
    return None


def _check_index(path: Path, values: list[str], layout: Layout) -> None:
    """A column taken for a row index must hold 0, 1, 2... in order; otherwise the table is ambiguous."""
    if layout.index is None:
        return
    if values != [str(i) for i in range(len(values))]:
        name = layout.header[layout.index] if layout.header else ""
        raise DataFileError(
            f"{path}: the first column ({name!r}) has no proper name but is not a row index 0, 1, 2...; name it in the "
            "header (or drop it) so it is read as a feature"
        )


def _refuse_duplicates(path: Path, header: list[str], index: int | None) -> None:
    """Two columns with one name cannot be told apart: refused, naming them."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.strip().lower()
        if i == index:
            continue
        if key in seen:
            what = f"named {name!r}" if key else "without a name"
            raise DataFileError(
                f"{path}: columns {seen[key] + 1} and {i + 1} are both {what}; give every column its own name in the header"
            )
        seen[key] = i


def _header(head: list[list[str]], label_column: str | None) -> list[str] | None:
    """The first row as column names when it is a header: a label column given by name needs one; otherwise the
    first row is a header when it holds text where the second row holds a number, or is all text."""
    row = head[0]
    names = [field.strip() for field in row]
    if label_column is not None and _position(label_column) is None:
        return names
    text = [i for i, field in enumerate(names) if not is_number(field)]
    if len(text) == len(row):
        return names
    if len(head) > 1 and len(head[1]) == len(row):
        return names if any(is_number(head[1][i]) for i in text) else None
    position = _position(label_column) if label_column is not None else 0
    label_at = position % len(row) if -len(row) <= position < len(row) else None
    return names if any(i != label_at for i in text) else None


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
            if len(matches) > 1:
                raise DataFileError(f"{path}: columns {matches[0] + 1} and {matches[1] + 1} are both named "
                                    f"{header[matches[0]]!r}; give every column its own name in the header")  # fmt: skip
    position = _position(label_column)
    if position is None:
        if header is not None and all(is_number(name) for name in header):
            raise SettingFileError(
                f"{path} has no header row (its first line is numbers), so the label column must be a position "
                f"(0 = first, -1 = last), not {label_column!r}; give label_column 0 or add a header row", "label_column"
            )
        shown = ", ".join(header[:12]) + (", ..." if len(header or []) > 12 else "") if header else ""
        raise SettingFileError(f"{path} has no column named {label_column!r}; its columns are: {shown}; "
                               "give label_column NAME", "label_column")  # fmt: skip
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
        bad = next(i for i, field in enumerate(fields) if not is_number(field))
        decimal_comma = is_number(fields[bad].strip().replace(",", ".", 1))
        hint = "; decimals are written with '.', not ','" if decimal_comma else ""
        raise DataFileError(f"{path}, line {line}: feature {bad + 1} is {fields[bad].strip()!r}, not a number{hint}") from None
    if not all(math.isfinite(v) for v in values):
        bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise DataFileError(f"{path}, line {line}: feature {bad + 1} is {fields[bad].strip()!r}; features must be finite numbers")
    return values
