"""A numpy interpreter of the IR: whole graphs, single nodes, and slabs of window ops.

::

    from cnnmem.runtime import evaluate, run_node

    values = evaluate(graph, {"input": x})          # every tensor's value, by name
    y = run_node(node, [x_slab, w, b], pads=(1, 1, 0, 1))[0]   # output rows from a slab

Arrays are in the IR's logical layout (NCHW feature maps) with the tensors' dtypes: float32 for
float graphs, stored integers for quantised TFLite graphs.

- Float kernels follow the ONNX operator specification (opset 17) as onnxruntime computes it
  (:mod:`cnnmem.runtime.kernels`, :mod:`cnnmem.runtime.windows`).
- Quantised kernels follow TensorFlow Lite's int8 kernels bit for bit, fixed-point
  requantisation included (:mod:`cnnmem.runtime.quantized`, :mod:`cnnmem.runtime.fixedpoint`).
- :func:`constant_values` gives constants without data the same seeded random values as
  ``to_onnx(graph, random_weights=True, seed=seed)``.
- Window ops (Conv, ConvTranspose, MaxPool, AveragePool) take a ``pads`` override so that one
  output row can be computed from the input rows of its window only (see
  :mod:`cnnmem.runtime.windows` for the padding / ``ceil_mode`` rules).
"""

from cnnmem.runtime.interpreter import (
    WINDOW_OPS,
    EvaluationError,
    constant_values,
    evaluate,
    run_node,
)

__all__ = ["WINDOW_OPS", "EvaluationError", "constant_values", "evaluate", "run_node"]
