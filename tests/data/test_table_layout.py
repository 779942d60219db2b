"""A CSV table's layout is found by one rule a user can predict, said in one line, and an ambiguous table is refused.

The rule (csvfile.LAYOUT_RULE): --label-column when given; else the one column named like a label (label, labels,
digit, class, target, y, any case); else the first column. An unnamed first column over 0, 1, 2... (pandas' index)
is skipped. Each case below is built so that the old positional guess would train on the wrong column.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bpnn_xp.data.csvfile import LABEL_NAMES, DataNote
from bpnn_xp.data.userdata import load_user_data
from bpnn_xp.errors import DataFileError


def read(path, **kwargs):
    """(dataset, the notes said while reading)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_user_data(path, **kwargs)
    return data, [str(w.message) for w in caught if issubclass(w.category, DataNote)]


def table(rng: np.random.Generator, n: int = 12, features: int = 5, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Random 0..255 pixels (many distinct values, so a pixel column taken as labels would give many classes)."""
    return rng.integers(0, 256, size=(n, features)), np.arange(n) % classes


@pytest.mark.parametrize("name", [*LABEL_NAMES, "Digit", "TARGET", " Class "])
@pytest.mark.parametrize("position", [1, 3, 5])
def test_a_column_named_like_a_label_wins_over_position(tmp_path, name, position):
    X, y = table(np.random.default_rng(position))
    columns = [f"p{i}" for i in range(5)]
    columns.insert(position, name)
    rows = [list(map(str, X[r])) for r in range(len(y))]
    for r, row in enumerate(rows):
        row.insert(position, str(y[r] + 4))  # labels 4, 5, 6: class names, not 0..K-1
    (tmp_path / "t.csv").write_text("\n".join([",".join(columns), *(",".join(r) for r in rows)]) + "\n")
    data, notes = read(tmp_path / "t.csv")
    assert data.class_names == ["4", "5", "6"] and data.labels.tolist() == y.tolist()
    assert np.array_equal(data.X * 255, X)
    assert notes == [f"t.csv: labels: column {name.strip()!r} (named like a label); 5 feature columns"]


def test_pandas_index_column_is_recognised_and_skipped(tmp_path):
    pandas = pytest.importorskip("pandas")
    X, y = table(np.random.default_rng(1), n=30)
    frame = pandas.DataFrame(X, columns=[f"px{i}" for i in range(5)])
    frame.insert(2, "digit", y)
    frame.to_csv(tmp_path / "p.csv")  # pandas' default: an unnamed index column 0..n-1 first
    data, notes = read(tmp_path / "p.csv")
    assert data.labels.tolist() == y.tolist() and data.n_features == 5 and np.array_equal(data.X * 255, X)
    assert "row index, skipped" in notes[0] and "column 'digit'" in notes[0]


def test_without_a_label_like_name_the_first_column_is_the_label_and_that_is_said(tmp_path):
    (tmp_path / "f.csv").write_text("kind,a,b\n1,0.5,0.25\n0,0.0,1.0\n1,0.75,0.5\n")
    data, notes = read(tmp_path / "f.csv")
    assert data.labels.tolist() == [1, 0, 1]
    assert notes == ["f.csv: labels: column 'kind' (the first column); 2 feature columns"]
    (tmp_path / "n.csv").write_text("1,0.5,0.25\n0,0.0,1.0\n")
    assert read(tmp_path / "n.csv")[1] == ["n.csv: labels: column 1 (the first column; no header row); 2 feature columns"]


def test_label_column_given_overrides_the_name_rule(tmp_path):
    (tmp_path / "o.csv").write_text("label,kind,a\n0,1,0.5\n1,0,0.25\n0,1,0.75\n")
    data, notes = read(tmp_path / "o.csv", label_column="kind")
    assert data.labels.tolist() == [1, 0, 1] and "as --label-column says" in notes[0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("label,digit,a\n0,1,2\n1,0,3\n", r"columns 'label' and 'digit' both look like labels; say which .*label_column"),
        ("y,Target,a,b\n0,1,2,3\n1,0,3,4\n", r"'y' and 'Target' both look like labels"),
        ("label,a,a\n0,1,2\n1,3,4\n", r"columns 2 and 3 are both named 'a'; give every column its own name"),
        ("label,A,a\n0,1,2\n1,3,4\n", r"columns 2 and 3 are both named"),  # names match ignoring case, as lookups do
        ("label,,\n0,1,2\n1,3,4\n", r"columns 2 and 3 are both without a name"),
        (",label,a,b\n5,0,1,2\n7,1,3,4\n", r"first column \(''\) has no proper name but is not a row index"),
    ],
)
def test_ambiguous_tables_are_refused_with_the_fix(tmp_path, text, match):
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(DataFileError, match=match) as info:
        load_user_data(tmp_path / "a.csv")
    assert "\n" not in str(info.value)


def test_a_duplicated_label_column_name_is_named_not_missing(tmp_path):
    (tmp_path / "d.csv").write_text("x,digit,digit\n1,0,2\n2,1,3\n")
    with pytest.raises(DataFileError, match="both named 'digit'"):
        load_user_data(tmp_path / "d.csv", label_column="digit")


def test_label_column_for_a_file_that_is_not_a_csv_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataFileError, match="label_column is read for .csv files only"):
        load_user_data(tmp_path / "d.npz", label_column="digit")


def test_the_rule_is_stated_in_the_help_and_readme():
    from pathlib import Path

    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    shown = CliRunner().invoke(app, ["train", "--help"]).output
    text = " ".join("".join(c for c in shown if c not in "│╭╮╰╯─").split())  # the help as read, box and wrapping removed
    assert "named label, labels, digit, class, target or y" in text
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert "named like a label" in readme and "index" in readme


def test_decimal_commas_are_named_as_such(tmp_path):
    (tmp_path / "c.csv").write_text("label;a;b\n0;1,5;2\n1;3;4\n")
    with pytest.raises(DataFileError, match=r"line 2: feature 1 is '1,5', not a number; decimals are written with '.'"):
        load_user_data(tmp_path / "c.csv")
