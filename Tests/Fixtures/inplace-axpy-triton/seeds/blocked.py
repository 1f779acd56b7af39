"""A correct in-place candidate with a tunable block."""
# kiln:tunable BLOCK 512 256 1024

import triton
import triton.language as tl


@triton.jit
def _axpy(x_ptr, y_ptr, alpha, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    y = tl.load(y_ptr + offs, mask=mask) + alpha * tl.load(x_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, y, mask=mask)


def axpy(alpha, x, y):
    n = x.numel()
    _axpy[(triton.cdiv(n, BLOCK),)](x, y, alpha, n, BLOCK=BLOCK)
