"""The user-data form "a .csv file": one label column (a header name or position) and numeric features, its header
row and delimiter detected, parsed in float64 blocks so a large file never becomes Python lists."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from .userforms import is_number

CSV_BLOCK_ROWS = 4096  # rows parsed into one float64 block at a time, so a large CSV never becomes Python lists


def read_csv(path: Path, label_column: str | None) -> tuple[np.ndarray, np.ndarray, None]:
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
    text = [i for i, field in enumerate(names) if not is_number(field)]
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
        if header is not None and all(is_number(name) for name in header):
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
        bad = next(i for i, field in enumerate(fields) if not is_number(field))
        raise DataFileError(f"{path}, line {line}: feature {bad + 1} is {fields[bad].strip()!r}, not a number") from None
    if not all(math.isfinite(v) for v in values):
        bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise DataFileError(f"{path}, line {line}: feature {bad + 1} is {fields[bad].strip()!r}; features must be finite numbers")
    return values
