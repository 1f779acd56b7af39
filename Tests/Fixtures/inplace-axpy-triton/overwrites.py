"""Wrong: writes alpha * x over y instead of adding to it."""

import triton
import triton.language as tl


@triton.jit
def _scale(x_ptr, y_ptr, alpha, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(y_ptr + offs, alpha * tl.load(x_ptr + offs, mask=mask), mask=mask)


def axpy(alpha, x, y):
    n = x.numel()
    _scale[(triton.cdiv(n, 1024),)](x, y, alpha, n, BLOCK=1024)
