"""An independent oracle: gradients and optimizer steps equal torch.autograd's and torch.optim's."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import Network
from bpnn_xp.backends import resolve_device, to_numpy
from bpnn_xp.engine.optimizers import get_optimizer
from tests.helpers import ACTIVATION_NAMES, COST_CASES, make_cost, random_network, random_problem

torch = pytest.importorskip("torch", reason="torch is not installed (pip install '.[torch]')")

TORCH_ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "identity": lambda z: z,
}


def torch_cost(z, y, cost_name, output):
    m = z.shape[0]
    if cost_name == "softmax_cross_entropy":
        return -(y * torch.log_softmax(z, dim=1)).sum() / m
    if cost_name == "sigmoid_cross_entropy":
        return torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum") / m
    a = TORCH_ACT[output](z)
    return 0.5 * ((a - y) ** 2).sum() / m


def torch_gradients(net: Network, X, Y, activations, cost_name, output, l2=0.0, l1=0.0):
    params = [torch.tensor(to_numpy(p), requires_grad=True) for p in net.params]
    a = torch.tensor(to_numpy(X))
    for i in range(0, len(params), 2):
        z = a @ params[i] + params[i + 1]
        a = TORCH_ACT[activations[i // 2]](z) if i + 2 < len(params) else z
    m = X.shape[0]
    cost = torch_cost(a, torch.tensor(to_numpy(Y)), cost_name, output)
    for w in params[0::2]:
        cost = cost + l2 / (2 * m) * (w**2).sum() + l1 / m * w.abs().sum()
    cost.backward()
    return float(cost.detach()), [p.grad.numpy() for p in params]


@pytest.mark.parametrize("cost_name,output", COST_CASES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradients_equal_torch_autograd(activation, cost_name, output):
    sizes = [6, 8, 7, 4]
    backend = resolve_device("cpu")
    net = random_network(backend, sizes, activation, make_cost(cost_name, output), seed=11)
    X, Y = random_problem(backend, sizes, m=13, seed=12, multilabel=cost_name != "softmax_cross_entropy")
    cost, grads = net.backprop(X, Y, l2=0.4, l1=0.1)
    ref_cost, ref_grads = torch_gradients(net, X, Y, [activation] * 2, cost_name, output, l2=0.4, l1=0.1)
    assert abs(float(cost) - ref_cost) <= 1e-12 * abs(ref_cost)
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        err = np.max(np.abs(to_numpy(g) - r)) / max(np.max(np.abs(r)), 1e-300)
        assert err < 1e-10, f"param {i}: relative difference {err:.3e}"


OPTIMIZER_CASES = [
    ("sgd", {}, lambda p, lr: torch.optim.SGD(p, lr=lr)),
    ("momentum", {"momentum": 0.8}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.8)),
    ("nesterov", {"momentum": 0.8}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.8, nesterov=True)),
    ("rmsprop", {"rho": 0.9, "eps": 1e-8}, lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8)),
    ("adam", {}, lambda p, lr: torch.optim.Adam(p, lr=lr)),
]


@pytest.mark.parametrize("name,settings,make_torch", OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
def test_optimizer_steps_equal_torch_optim(name, settings, make_torch):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(5, 3)), rng.normal(size=3)]
    grads = [[rng.normal(size=(5, 3)), rng.normal(size=3)] for _ in range(6)]
    ours = [p.copy() for p in start]
    opt = get_optimizer(name, 0.05, **settings)
    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    reference = make_torch(theirs, 0.05)
    for g in grads:
        opt.step(ours, g)
        for t, gi in zip(theirs, g):
            t.grad = torch.tensor(gi)
        reference.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-14)
