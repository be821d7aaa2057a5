"""A small builder that makes IR graphs in code, inferring every shape as it goes.

Used by the built-in network zoo and by tests that need tiny graphs inline::

    b = GraphBuilder("tiny", weights=True, seed=0)
    x = b.input("x", (1, 3, 32, 32))
    y = b.relu(b.batch_norm(b.conv(x, 16, 3, padding=1, bias=False)))
    b.output(b.linear(b.flatten(b.global_avg_pool(y)), 10))
    graph = b.build()

With ``weights=True`` every constant gets seeded random data (He-scaled, so that activations
stay O(1) through deep networks); otherwise constants carry shapes only, which is all memory
analysis needs and keeps VGG16's 138 M parameters out of RAM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cnnmem.ir.graph import AttrValue, Graph, Node, Tensor, TensorKind
from cnnmem.ir.ops import infer_node
from cnnmem.ir.types import Activation, DType
from cnnmem.ir.verify import verify

IntOrPair = int | tuple[int, int]


def _pair(v: IntOrPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class GraphBuilder:
    """Build a :class:`Graph` op by op; names are made unique automatically."""

    def __init__(self, name: str, *, weights: bool = False, seed: int = 0,
                 dtype: DType = DType.FLOAT32) -> None:
        self.graph = Graph(name)
        self.weights = weights
        self.dtype = dtype
        self._rng = np.random.default_rng(seed)
        self._values: dict[str, np.ndarray] = {}
        self._scope: list[str] = []

    # ------------------------------------------------------------------ naming
    def scope(self, name: str) -> _Scope:
        """Context manager that prefixes node names with ``name/`` (nestable)."""
        return _Scope(self, name)

    def _name(self, base: str) -> str:
        full = "/".join([*self._scope, base])
        return self.graph.unique_name(full)

    # ------------------------------------------------------------------ tensors
    def input(self, name: str, shape: Sequence[int], dtype: DType | None = None) -> Tensor:
        """Add a graph input."""
        return self.graph.add_input(name, shape, dtype or self.dtype)

    def output(self, *tensors: Tensor) -> None:
        """Mark tensors as graph outputs."""
        self.graph.outputs.extend(tensors)

    def constant(self, name: str, shape: Sequence[int], *, init: str = "normal",
                 fan_in: int = 1, data: np.ndarray | None = None,
                 dtype: DType | None = None, exact: bool = False) -> Tensor:
        """Add a constant.

        ``init`` is ``normal`` (He), ``zeros``, ``ones``, ``uniform_pos`` (U(0.5, 1.5), for BN
        scale/variance) or ``small`` (N(0, 0.1)); ``exact`` means ``name`` is already scoped.
        """
        shape = tuple(int(d) for d in shape)
        dt = dtype or self.dtype
        if data is None and self.weights:
            if init == "normal":
                data = self._rng.normal(0.0, math.sqrt(2.0 / max(fan_in, 1)), shape)
            elif init == "zeros":
                data = np.zeros(shape)
            elif init == "ones":
                data = np.ones(shape)
            elif init == "uniform_pos":
                data = self._rng.uniform(0.5, 1.5, shape)
            elif init == "small":
                data = self._rng.normal(0.0, 0.1, shape)
            else:
                raise ValueError(f"unknown init {init!r}")
        if data is not None:
            data = np.asarray(data).astype(dt.numpy)
        return self.graph.add_constant(name if exact else self._name(name), shape, dt,
                                       data=data)

    def int_constant(self, name: str, values: Sequence[int] | Sequence[float],
                     dtype: DType = DType.INT64) -> Tensor:
        """A small shape-like constant that always carries data (Reshape targets, scales)."""
        arr = np.asarray(values, dtype=dtype.numpy)
        return self.graph.add_constant(self._name(name), arr.shape, dtype, data=arr)

    # ------------------------------------------------------------------ generic node
    def node(self, op_type: str, inputs: Sequence[Tensor | None],
             attrs: dict[str, AttrValue] | None = None, *, num_outputs: int = 1,
             name: str | None = None, activation: Activation | None = None,
             exact: bool = False) -> list[Tensor]:
        """Add a node, inferring its output shapes and dtypes; returns its outputs.

        ``exact``: ``name`` is already scoped and unique (from :meth:`layer_name`).
        """
        node_name = name if (exact and name) else self._name(name or op_type)
        node = Node(node_name, op_type, attrs or {}, activation=activation)
        # Outputs need to exist for Split's shape function (it counts them); give placeholders.
        node._outputs = tuple(Tensor(f"{node_name}:{i}", (1,), self.dtype, TensorKind.ACTIVATION)
                              for i in range(num_outputs))
        shapes, dtypes, values = infer_node(
            node, [t.shape if t is not None else None for t in inputs],
            [t.dtype if t is not None else None for t in inputs],
            [self._value(t) for t in inputs])
        node._outputs = ()
        outs = [Tensor(node_name if num_outputs == 1 else f"{node_name}_{i}", s, d,
                       TensorKind.ACTIVATION)
                for i, (s, d) in enumerate(zip(shapes, dtypes, strict=True))]
        for t, v in zip(outs, values, strict=True):
            if v is not None:
                self._values[t.name] = v
        self.graph.add_node(node, inputs, outs)
        return outs

    def _value(self, t: Tensor | None) -> np.ndarray | None:
        if t is None:
            return None
        if t.data is not None:
            return t.data
        return self._values.get(t.name)

    def op(self, op_type: str, *inputs: Tensor | None, name: str | None = None,
           activation: Activation | None = None, exact: bool = False,
           **attrs: AttrValue) -> Tensor:
        """Add a single-output node."""
        return self.node(op_type, inputs, attrs, name=name, activation=activation,
                         exact=exact)[0]

    def layer_name(self, base: str) -> str:
        """A scoped, unique name for a layer; its weights are named ``<name>.weight`` etc."""
        return self._name(base)

    def _param(self, layer: str, suffix: str, shape: Sequence[int], **kw: object) -> Tensor:
        return self.constant(f"{layer}.{suffix}", shape, exact=True, **kw)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ layers
    def conv(self, x: Tensor, out_channels: int, kernel: IntOrPair, *, stride: IntOrPair = 1,
             padding: IntOrPair | tuple[int, int, int, int] = 0, dilation: IntOrPair = 1,
             groups: int = 1, bias: bool = True, name: str = "conv") -> Tensor:
        """2-D convolution (weight ``O x I/g x kH x kW``)."""
        kh, kw = _pair(kernel)
        name = self.layer_name(name)
        in_channels = x.shape[1]
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: channels {in_channels}->{out_channels} not divisible by "
                             f"groups {groups}")
        w = self._param(name, "weight", (out_channels, in_channels // groups, kh, kw),
                          fan_in=in_channels // groups * kh * kw)
        b = self._param(name, "bias", (out_channels,), init="small") if bias else None
        pads = (tuple(padding) if isinstance(padding, tuple) and len(padding) == 4
                else _pair(padding) * 2)  # type: ignore[arg-type]
        return self.op("Conv", x, w, b, name=name, exact=True, kernel_shape=(kh, kw),
                       strides=_pair(stride), pads=tuple(int(p) for p in pads),
                       dilations=_pair(dilation), group=groups)

    def conv_transpose(self, x: Tensor, out_channels: int, kernel: IntOrPair, *,
                       stride: IntOrPair = 1, padding: IntOrPair = 0, bias: bool = True,
                       name: str = "deconv") -> Tensor:
        """Transposed 2-D convolution (weight ``I x O x kH x kW``)."""
        kh, kw = _pair(kernel)
        name = self.layer_name(name)
        w = self._param(name, "weight", (x.shape[1], out_channels, kh, kw),
                          fan_in=x.shape[1] * kh * kw // max(1, _pair(stride)[0] ** 2))
        b = self._param(name, "bias", (out_channels,), init="small") if bias else None
        return self.op("ConvTranspose", x, w, b, name=name, exact=True, kernel_shape=(kh, kw),
                       strides=_pair(stride), pads=_pair(padding) * 2, dilations=(1, 1),
                       group=1)

    def batch_norm(self, x: Tensor, *, eps: float = 1e-5, name: str = "bn") -> Tensor:
        """BatchNormalization in inference form (scale, bias, running mean/var)."""
        c = x.shape[1]
        name = self.layer_name(name)
        scale = self._param(name, "weight", (c,), init="uniform_pos")
        bias = self._param(name, "bias", (c,), init="small")
        mean = self._param(name, "running_mean", (c,), init="small")
        var = self._param(name, "running_var", (c,), init="uniform_pos")
        return self.op("BatchNormalization", x, scale, bias, mean, var, name=name, exact=True,
                       epsilon=eps)

    def linear(self, x: Tensor, out_features: int, *, bias: bool = True,
               name: str = "fc") -> Tensor:
        """Fully connected layer as ``Gemm(x, W^T) + b`` (weight ``O x I``, torch layout)."""
        name = self.layer_name(name)
        w = self._param(name, "weight", (out_features, x.shape[1]), fan_in=x.shape[1])
        b = self._param(name, "bias", (out_features,), init="small") if bias else None
        return self.op("Gemm", x, w, b, name=name, exact=True, transB=1, alpha=1.0, beta=1.0)

    def relu(self, x: Tensor, name: str = "relu") -> Tensor:
        """ReLU."""
        return self.op("Relu", x, name=name)

    def relu6(self, x: Tensor, name: str = "relu6") -> Tensor:
        """ReLU6 as ONNX ``Clip(min=0, max=6)`` (min/max as constant inputs, opset >= 11)."""
        lo = self.int_constant(f"{name}.min", 0.0, dtype=self.dtype)  # type: ignore[arg-type]
        hi = self.int_constant(f"{name}.max", 6.0, dtype=self.dtype)  # type: ignore[arg-type]
        return self.op("Clip", x, lo, hi, name=name)

    def leaky_relu(self, x: Tensor, alpha: float = 0.1, name: str = "lrelu") -> Tensor:
        """LeakyReLU."""
        return self.op("LeakyRelu", x, name=name, alpha=alpha)

    def sigmoid(self, x: Tensor, name: str = "sigmoid") -> Tensor:
        """Sigmoid."""
        return self.op("Sigmoid", x, name=name)

    def max_pool(self, x: Tensor, kernel: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, *, ceil_mode: bool = False,
                 name: str = "maxpool") -> Tensor:
        """Max pooling."""
        return self.op("MaxPool", x, name=name, kernel_shape=_pair(kernel),
                       strides=_pair(stride if stride is not None else kernel),
                       pads=_pair(padding) * 2, dilations=(1, 1), ceil_mode=int(ceil_mode))

    def avg_pool(self, x: Tensor, kernel: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, *, ceil_mode: bool = False,
                 count_include_pad: bool = False, name: str = "avgpool") -> Tensor:
        """Average pooling."""
        return self.op("AveragePool", x, name=name, kernel_shape=_pair(kernel),
                       strides=_pair(stride if stride is not None else kernel),
                       pads=_pair(padding) * 2, ceil_mode=int(ceil_mode),
                       count_include_pad=int(count_include_pad))

    def global_avg_pool(self, x: Tensor, name: str = "gap") -> Tensor:
        """Global average pooling to ``N x C x 1 x 1``."""
        return self.op("GlobalAveragePool", x, name=name)

    def flatten(self, x: Tensor, axis: int = 1, name: str = "flatten") -> Tensor:
        """Flatten to 2-D."""
        return self.op("Flatten", x, name=name, axis=axis)

    def add(self, a: Tensor, b: Tensor, name: str = "add") -> Tensor:
        """Element-wise addition."""
        return self.op("Add", a, b, name=name)

    def mul(self, a: Tensor, b: Tensor, name: str = "mul") -> Tensor:
        """Element-wise multiplication."""
        return self.op("Mul", a, b, name=name)

    def sub(self, a: Tensor, b: Tensor, name: str = "sub") -> Tensor:
        """Element-wise subtraction."""
        return self.op("Sub", a, b, name=name)

    def concat(self, xs: Sequence[Tensor], axis: int = 1, name: str = "concat") -> Tensor:
        """Concatenation along ``axis``."""
        return self.node("Concat", list(xs), {"axis": axis}, name=name)[0]

    def reshape(self, x: Tensor, shape: Sequence[int], name: str = "reshape") -> Tensor:
        """Reshape to ``shape`` (may hold one -1)."""
        target = self.int_constant(f"{name}.shape", list(shape))
        return self.op("Reshape", x, target, name=name)

    def upsample(self, x: Tensor, scale: int, mode: str = "nearest",
                 name: str = "upsample") -> Tensor:
        """Resize by an integer factor on H and W."""
        scales = self.int_constant(f"{name}.scales", [1.0, 1.0, float(scale), float(scale)],
                                   dtype=DType.FLOAT32)
        return self.node("Resize", [x, None, scales, None],
                         {"mode": mode, "coordinate_transformation_mode": "asymmetric",
                          "nearest_mode": "floor"}, name=name)[0]

    def softmax(self, x: Tensor, axis: int = -1, name: str = "softmax") -> Tensor:
        """Softmax along ``axis``."""
        return self.op("Softmax", x, name=name, axis=axis)

    def dropout(self, x: Tensor, name: str = "dropout") -> Tensor:
        """Dropout (identity at inference)."""
        return self.op("Dropout", x, name=name)

    # ------------------------------------------------------------------ finish
    def build(self, *, check: bool = True) -> Graph:
        """Return the graph (verified unless ``check`` is False)."""
        if check:
            verify(self.graph)
        return self.graph


class _Scope:
    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self._builder = builder
        self._name = name

    def __enter__(self) -> None:
        self._builder._scope.append(self._name)

    def __exit__(self, *exc: object) -> None:
        self._builder._scope.pop()
