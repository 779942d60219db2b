"""The scikit-learn script equivalent to ``bpnn train`` with its defaults, timed as a whole process by the harness.

    python -m benchmarks.sklearn_digits [--epochs 40]

load_digits (/16), stratified split 1,259 train / 179 validation / 359 test, one mean and std from the
training split, MLPClassifier((256,), relu, Adam lr 1e-3, batch 32, 40 epochs, no early stopping; alpha left at
its default 1e-4, since bpnn's l2 0.5 has another form and does not change the work), then validation and test
accuracy printed as JSON. Imports only NumPy and scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

TEST_ROWS, VAL_ROWS = 359, 179  # the sizes `bpnn train` uses on digits (test 0.2, validation 0.1, stratified)


def splits(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, validation, test) of digits scaled to [0, 1], stratified, as bpnn train splits them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=TEST_ROWS, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=VAL_ROWS, stratify=y_rest, random_state=seed)
    return (X_train, y_train), (X_val, y_val), (X_test, y_test)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train and report, like `bpnn train --json`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs (max_iter); bpnn train's default is 40")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = splits(args.seed)
    mean, std = X_train.mean(), X_train.std()
    scale = lambda X: ((X - mean) / std).astype(np.float32)  # noqa: E731
    model = MLPClassifier(
        hidden_layer_sizes=(256,), activation="relu", solver="adam", learning_rate_init=1e-3, batch_size=32,
        max_iter=args.epochs, shuffle=True, random_state=args.seed, tol=0.0, n_iter_no_change=10**9, early_stopping=False,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(scale(X_train), y_train)
    result = {
        "train_samples": len(y_train),
        "val_accuracy": float(model.score(scale(X_val), y_val)),
        "test_accuracy": float(model.score(scale(X_test), y_test)),
        "test_samples": len(y_test),
        "epochs": model.n_iter_,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
