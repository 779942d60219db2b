"""The CUDA C of every kernel, written once: compiled for the GPU and run on NumPy by ``mirror``.

An elementwise kernel is its parameter list and a body over element ``i`` in a small shared subset of
C++ and Python: ``T name = expr;`` declarations, ``array[i] = expr;`` stores, arithmetic, comparisons,
``T(constant)`` casts (so float32 stays float32, as NumPy's weak Python scalars do) and the functions
``select(c, a, b)``, ``sgn``, ``sqrt``, ``tanh``. Each body does the reference kernels' operations in
their order (``backends.kernels.Kernels``); compiled with ``--fmad=false`` so nothing is contracted to
an FMA, and IEEE division and square root (NVRTC's defaults), the GPU's bits equal the reference's
except through ``tanh`` (CUDA's and NumPy's differ by an ulp or so).

The softmax cross-entropy is one block of ``SOFTMAX_THREADS`` threads over the rows (the output layer is
narrow): per row the max, exp, sums, cost and delta, with the batch cost and the correct count reduced
in a fixed tree order (deterministic) and added to the epoch totals on the device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

BLOCK = 256  # threads per block of the elementwise kernels
SOFTMAX_THREADS = 256  # threads of the softmax cross-entropy's one block (a power of two: the tree reduction)
C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
OPTIONS = ("--fmad=false",)  # no FMA contraction: the reference's roundings, operation by operation

PRELUDE = """typedef {ctype} T;
template <typename C, typename V> __device__ __forceinline__ V select(C c, V a, V b) {{ return c ? a : b; }}
__device__ __forceinline__ T sgn(T x) {{ return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x); }}
"""

ELEMENTWISE = """extern "C" __global__ void {name}({params}) {{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {{
{body}
    }}
}}
"""


@dataclass(frozen=True)
class Elementwise:
    """A grid-stride kernel over ``n`` elements: C parameters (the last is ``long long n``) and a body over ``i``."""

    name: str
    params: str
    body: str

    @property
    def param_names(self) -> list[str]:
        """The parameter names in order (what a launch passes)."""
        return [part.strip().split()[-1].lstrip("*") for part in self.params.split(",")]

    def source(self, dtype: np.dtype) -> str:
        """The complete CUDA C program for ``dtype`` (float32 or float64)."""
        body = "\n".join("        " + line.strip() for line in self.body.strip().splitlines())
        return PRELUDE.format(ctype=C_TYPES[np.dtype(dtype)]) + ELEMENTWISE.format(name=self.name, params=self.params, body=body)

    def python(self) -> str:
        """The body as NumPy statements over an index vector ``i`` (what ``mirror`` runs)."""
        lines = []
        for line in self.body.strip().splitlines():
            line = re.sub(r"^\s*(const\s+)?(T|long long|int|bool)\s+(?=\w+\s*=)", "", line.strip()).rstrip(";")
            line = re.sub(r"\bselect\(", "np.where(", line)
            line = re.sub(r"\bsgn\(", "np.sign(", line)
            lines.append(re.sub(r"\b(sqrt|tanh)\(", r"np.\1(", line))
        return "\n".join(lines)


_PENALTY = """
T gi = g[i];
gi = select(w[i] * has_l2, gi + p[i] * l2, gi);
gi = select(w[i] * has_l1, gi + sgn(p[i]) * l1, gi);
"""  # Kernels.penalized: l2/n p + l1/n sign(p) on the weights (w), biases left alone
_PENALTY_PARAMS = "const bool* w, int has_l2, T l2, int has_l1, T l1"

BIAS_RELU = Elementwise("bias_relu", "T* z, const T* b, T* a, long long cols, long long n", """
T x = z[i] + b[i % cols];
z[i] = x;
a[i] = select(x < T(0), T(0), x);
""")
BIAS_LEAKY_RELU = Elementwise("bias_leaky_relu", "T* z, const T* b, T* a, T slope, long long cols, long long n", """
T x = z[i] + b[i % cols];
z[i] = x;
T xs = x * slope;
a[i] = select(x >= xs, x, xs);
""")
BIAS_SIGMOID = Elementwise("bias_sigmoid", "T* z, const T* b, T* a, long long cols, long long n", """
T x = z[i] + b[i % cols];
z[i] = x;
a[i] = (tanh(x * T(0.5)) + T(1)) * T(0.5);
""")
BIAS_TANH = Elementwise("bias_tanh", "T* z, const T* b, T* a, long long cols, long long n", """
T x = z[i] + b[i % cols];
z[i] = x;
a[i] = tanh(x);
""")
RELU_BACKWARD = Elementwise("relu_backward", "const T* z, T* d, long long n", """
d[i] = d[i] * select(z[i] > T(0), T(1), T(0));
""")
LEAKY_RELU_BACKWARD = Elementwise("leaky_relu_backward", "const T* z, T* d, T slope, T one_minus_slope, long long n", """
d[i] = d[i] * (select(z[i] > T(0), T(1), T(0)) * one_minus_slope + slope);
""")
SIGMOID_BACKWARD = Elementwise("sigmoid_backward", "const T* a, T* d, long long n", """
d[i] = d[i] * ((T(1) - a[i]) * a[i]);
""")
TANH_BACKWARD = Elementwise("tanh_backward", "const T* a, T* d, long long n", """
d[i] = d[i] * (-(a[i] * a[i]) + T(1));
""")
DROPOUT = Elementwise("dropout", "const T* a, const bool* keep, T scale, T* out, long long n", """
out[i] = a[i] * select(keep[i], scale, T(0));
""")  # Kernels.dropout: a * (keep * scale); out may be a
SGD = Elementwise("sgd_update", f"T* p, const T* g, {_PENALTY_PARAMS}, T lr, long long n", _PENALTY + """
p[i] = p[i] - gi * lr;
""")
MOMENTUM = Elementwise("momentum_update", f"T* p, const T* g, T* vel, {_PENALTY_PARAMS}, T lr, T mu, int nesterov, long long n",
                       _PENALTY + """
T vi = vel[i] * mu + gi;
vel[i] = vi;
p[i] = p[i] - select(nesterov, (gi + vi * mu) * lr, vi * lr);
""")
RMSPROP = Elementwise("rmsprop_update",
                      f"T* p, const T* g, T* sq, {_PENALTY_PARAMS}, T lr, T rho, T one_minus_rho, T eps, long long n",
                      _PENALTY + """
T s = sq[i] * rho + (gi * gi) * one_minus_rho;
sq[i] = s;
p[i] = p[i] - (gi / (sqrt(s) + eps)) * lr;
""")
ADAM = Elementwise("adam_update",
                   f"T* p, const T* g, T* m, T* v, {_PENALTY_PARAMS}, T b1, T one_minus_b1, T b2, T one_minus_b2, T lr_t, "
                   "T eps_t, long long n", _PENALTY + """
T mi = m[i] * b1 + gi * one_minus_b1;
T vi = v[i] * b2 + (gi * gi) * one_minus_b2;
m[i] = mi;
v[i] = vi;
p[i] = p[i] - (mi / (sqrt(vi) + eps_t)) * lr_t;
""")

SOFTMAX_XENT_NAME = "softmax_xent"
SOFTMAX_XENT = """extern "C" __global__ void softmax_xent(const T* z, const T* y, T* delta, long long rows, long long cols,
        T scale, T* cost, T* cost_sum, long long* correct) {{
    __shared__ T part[{threads}];
    __shared__ long long hits[{threads}];
    T mine = T(0);
    long long right = 0;
    for (long long r = threadIdx.x; r < rows; r += blockDim.x) {{
        const T* zr = z + r * cols;
        const T* yr = y + r * cols;
        T* dr = delta + r * cols;
        T top = zr[0], ytop = yr[0];
        long long arg = 0, yarg = 0;
        for (long long c = 1; c < cols; ++c) {{
            if (zr[c] > top) {{ top = zr[c]; arg = c; }}
            if (yr[c] > ytop) {{ ytop = yr[c]; yarg = c; }}
        }}
        T total = T(0), mass = T(0), dot = T(0);
        for (long long c = 0; c < cols; ++c) {{
            T shifted = zr[c] - top;
            T e = exp(shifted);
            dr[c] = e;
            total = total + e;
            mass = mass + yr[c];
            dot = dot + shifted * yr[c];
        }}
        for (long long c = 0; c < cols; ++c) dr[c] = ((dr[c] / total) * mass - yr[c]) * scale;
        mine = mine + (log(total) * mass - dot);
        right += (arg == yarg);
    }}
    part[threadIdx.x] = mine;
    hits[threadIdx.x] = right;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {{
        if (threadIdx.x < half) {{
            part[threadIdx.x] = part[threadIdx.x] + part[threadIdx.x + half];
            hits[threadIdx.x] += hits[threadIdx.x + half];
        }}
        __syncthreads();
    }}
    if (threadIdx.x == 0) {{
        T value = part[0] / T(rows);
        cost[0] = value;
        cost_sum[0] = cost_sum[0] + value * T(rows);
        correct[0] += hits[0];
    }}
}}
"""


def softmax_xent_source(dtype: np.dtype) -> str:
    """The softmax cross-entropy kernel's CUDA C for ``dtype``."""
    return PRELUDE.format(ctype=C_TYPES[np.dtype(dtype)]) + SOFTMAX_XENT.format(threads=SOFTMAX_THREADS)


ELEMENTWISE_KERNELS = (BIAS_RELU, BIAS_LEAKY_RELU, BIAS_SIGMOID, BIAS_TANH, RELU_BACKWARD, LEAKY_RELU_BACKWARD,
                       SIGMOID_BACKWARD, TANH_BACKWARD, DROPOUT, SGD, MOMENTUM, RMSPROP, ADAM)  # fmt: skip


def all_sources(dtype: np.dtype) -> dict[str, str]:
    """Every kernel's CUDA C for ``dtype``, by kernel name (what CI compiles with NVRTC)."""
    sources = {k.name: k.source(dtype) for k in ELEMENTWISE_KERNELS}
    sources[SOFTMAX_XENT_NAME] = softmax_xent_source(dtype)
    return sources
BY_NAME = {k.name: k for k in ELEMENTWISE_KERNELS}


def source_of(name: str, dtype: np.dtype) -> str:
    """The CUDA C of the kernel called ``name`` for ``dtype``."""
    return softmax_xent_source(dtype) if name == SOFTMAX_XENT_NAME else BY_NAME[name].source(dtype)
