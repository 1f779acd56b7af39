"""The entry point every inplace-axpy-triton implementation defines (shown to the model; not run).

    y[i] += alpha * x[i]   for every i, in float32; x and y are contiguous [n] float32 tensors on one device.

Rules: update y in place and return None; the computation belongs in @triton.jit kernels.
"""

import torch


def axpy(alpha: float, x: torch.Tensor, y: torch.Tensor) -> None:
    """Adds alpha * x to y in place."""
    ...
