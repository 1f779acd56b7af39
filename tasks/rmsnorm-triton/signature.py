"""The entry point every rmsnorm-triton implementation defines (this file is shown to the model; it is not run).

Layouts: contiguous tensors on one device (a GPU; Triton's CPU interpreter in interpreter checks), row-major, all of
one dtype (float16, bfloat16 or float32):
    x, residual, out, residual_out   [tokens, hidden]
    weight                           [hidden]
Semantics, per row t, in float32 arithmetic or better:
    r = x[t] + residual[t]
    residual_out[t] = r                                          (rounded to the dtype)
    out[t] = r / sqrt(mean(r * r) + eps) * weight                (rounded to the dtype)
The variance may be taken from r before or after its rounding to the dtype. Some rows are tiny (eps matters) and
some are large (sums of squares overflow fp16).

Rules: write out and residual_out in place and return None. torch may be used only to allocate tensors, make views
and query shapes; the computation belongs in @triton.jit kernels. Imports: torch, triton, triton.language, math,
typing, functools, dataclasses. Tunables: `# kiln:tunable ROWS 4 1 2 8` comment lines (the first value is the
default) become module-level names set before the module runs; pass them to kernels as tl.constexpr arguments.
"""

import torch


def fused_add_rmsnorm(
    x: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor,
    out: torch.Tensor,
    residual_out: torch.Tensor,
    eps: float,
) -> None:
    """Writes residual_out = x + residual and out = rmsnorm(residual_out) * weight."""
    ...
