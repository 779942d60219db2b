"""Pictures: stratified sample grid with true and predicted labels, hidden units titled with the layer, decision
boundary in the data's own units with a legend, and the sheet of inputs as the network saw them."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import plots


@pytest.fixture
def figures(monkeypatch):
    """Every figure passed to plots._save, kept open for inspection (still written, then closed)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    kept = []
    original = plots._save

    def keep(fig, path):
        kept.append(
            {
                "titles": [ax.get_title() for ax in fig.axes],
                "colours": [ax.title.get_color() for ax in fig.axes],
                "suptitle": fig._suptitle.get_text() if fig._suptitle else "",
                "images": sum(len(ax.images) for ax in fig.axes),
                "axes": fig.axes,
                "legend": [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()],
                "xlim": fig.axes[0].get_xlim(),
                "ylim": fig.axes[0].get_ylim(),
                "points": sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)),
            }
        )
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    yield kept
    plt.close("all")


# ---------------------------------------------------------------- stratified_sample


def test_stratified_sample_has_every_class_in_proportion():
    rng = np.random.default_rng(0)
    labels = rng.choice(10, size=3000, p=[0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02])
    picked = plots.stratified_sample(labels, 100, seed=4)
    assert len(picked) == 100 and len(set(picked.tolist())) == 100
    classes, counts = np.unique(labels[picked], return_counts=True)
    assert classes.tolist() == list(range(10))  # every class present, even the 2% one
    share = 100 * np.bincount(labels, minlength=10) / len(labels)
    assert np.all(np.abs(counts - share) <= 1.0 + (share < 1))  # proportional, rounded (tiny classes get their one)
    assert np.all(np.diff(labels[picked]) >= 0)  # ordered by class


def test_stratified_sample_is_seeded_and_random():
    labels = np.repeat(np.arange(5), 200)
    first, again = plots.stratified_sample(labels, 50, seed=1), plots.stratified_sample(labels, 50, seed=1)
    other = plots.stratified_sample(labels, 50, seed=2)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert not np.array_equal(first, np.concatenate([np.arange(c * 200, c * 200 + 10) for c in range(5)]))  # not the first 10


def test_stratified_sample_small_and_large_n():
    labels = np.array([2, 0, 1, 1, 0, 2, 2])
    assert sorted(plots.stratified_sample(labels, 100, seed=0).tolist()) == list(range(7))  # all of them
    two = plots.stratified_sample(labels, 2, seed=0)
    assert len(two) == 2 and len(set(labels[two].tolist())) == 2  # fewer than the classes: distinct classes
    three = plots.stratified_sample(labels, 3, seed=0)
    assert sorted(labels[three].tolist()) == [0, 1, 2]


# ---------------------------------------------------------------- figures


def test_sample_grid_shows_true_and_predicted_and_marks_mistakes(tmp_path, figures):
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(10), 30)
    predicted = truth.copy()
    wrong = rng.choice(len(truth), 60, replace=False)
    predicted[wrong] = (truth[wrong] + 1) % 10
    images = rng.random((300, 64))
    path = plots.sample_grid(images, (8, 8), predicted, truth, tmp_path / "s.png", n=40, seed=3)
    assert path.stat().st_size > 1000
    fig = figures[0]
    tiles = [(t, c) for t, c in zip(fig["titles"], fig["colours"]) if t]
    assert fig["images"] == 40 and len(tiles) == 40
    picked = plots.stratified_sample(truth, 40, seed=3)
    for (title, colour), i in zip(tiles, picked):
        assert title == f"true {truth[i]}\npred {predicted[i]}"
        assert (colour == "red") == (predicted[i] != truth[i])
    assert f"red: wrong ({int((predicted[picked] != truth[picked]).sum())})" in fig["suptitle"]


def test_hidden_units_says_which_layer_and_how_many_units(tmp_path, figures):
    weights = np.random.default_rng(0).normal(size=(64, 30))
    plots.hidden_units(weights, (8, 8), tmp_path / "h.png")
    plots.hidden_units(weights, (8, 8), tmp_path / "h2.png", layer_name="hidden layer 2 (30 -> 30)", max_units=12)
    first, second = figures[0]["suptitle"], figures[1]["suptitle"]
    assert figures[0]["images"] == 30 and first.startswith("hidden layer 1 (64 -> 30): incoming weights of 30 of 30 units")
    assert figures[1]["images"] == 12 and second.startswith("hidden layer 2 (30 -> 30): incoming weights of 12 of 30 units")


def test_decision_boundary_is_drawn_in_data_units_with_legend_and_points(tmp_path, figures):
    rng = np.random.default_rng(0)
    raw = np.vstack([rng.normal([1000, -50], [30, 2], (40, 2)), rng.normal([1200, -40], [30, 2], (40, 2))])
    labels = np.repeat([0, 1], 40)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    seen = []

    def to_model(points):
        seen.append(points)
        return (points - mean) / std

    def predict(features):  # a classifier on standardized features: the line x1' + x2' = 0
        return (features.sum(axis=1) > 0).astype(int)

    plots.decision_boundary(predict, raw, labels, tmp_path / "d.png", to_model=to_model, class_names=["left", "right"])
    fig = figures[0]
    assert fig["legend"] == ["left", "right"] and fig["points"] == 80
    (x0, x1), (y0, y1) = fig["xlim"], fig["ylim"]
    assert x0 <= raw[:, 0].min() and x1 >= raw[:, 0].max() and y0 <= raw[:, 1].min() and y1 >= raw[:, 1].max()
    assert x1 - x0 > 100  # raw units, not standardized ones
    grid = seen[0]
    assert grid.min(axis=0)[0] < raw[:, 0].min() and grid.max(axis=0)[0] > raw[:, 0].max()  # to_model got raw points


def test_input_sheet_shows_each_input_with_the_callers_text(tmp_path, figures):
    images = np.random.default_rng(0).random((5, 28, 28))
    labels = [f"img{i}.png\n{i} (9{i}%)" for i in range(5)]
    path = plots.input_sheet(images, labels, tmp_path / "sheet.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figures[0]["images"] == 5 and [t for t in figures[0]["titles"] if t] == labels
    with pytest.raises(ValueError, match="n x H x W images and n labels"):
        plots.input_sheet(images, labels[:2], tmp_path / "bad.png")
