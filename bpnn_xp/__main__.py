"""``python -m bpnn_xp``: a short example run (three Gaussian blobs) until the launcher lands."""

from __future__ import annotations

from bpnn_xp import Network, Trainer, evaluate, resolve_device
from bpnn_xp.data import blobs, one_hot


def main() -> None:
    backend = resolve_device("cpu")
    X, labels = blobs(seed=1)
    Xt, labels_t = blobs(seed=2)
    net = Network.create([2, 16, 3], "tanh", "softmax_cross_entropy", init="glorot", device=backend)
    history = Trainer(net, "adam", lr=0.01, batch_size=32).fit(
        backend.asarray(X, "float32"), backend.asarray(one_hot(labels), "float32"), epochs=20
    )
    _, accuracy = evaluate(net, backend.asarray(Xt, "float32"), backend.asarray(one_hot(labels_t), "float32"))
    print(f"final training cost {history.records[-1].cost:.4f}; held-out accuracy {accuracy:.2%}")


if __name__ == "__main__":
    main()
