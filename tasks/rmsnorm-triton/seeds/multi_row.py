"""A seed design for rmsnorm-triton: ROWS rows per program as one [ROWS, BLOCK] tile, with the warps and the
number of rows tunable.

Many rows per program amortise the weight vector (loaded once per program, not once per row) and the program's
start-up over more bytes, and give the scheduler fewer, fuller programs on the many-token shapes; one row per
program keeps the most parallelism on few-token shapes. The arithmetic is the baseline's (float32 sum, variance
from the unrounded sum).
"""

# kiln:tunable ROWS 4 1 2 8 16
# kiln:tunable NUM_WARPS 8 4 16

import triton
import triton.language as tl


@triton.jit
def _fused_add_rmsnorm_rows(x_ptr, residual_ptr, weight_ptr, out_ptr, residual_out_ptr, tokens, hidden, eps,
                            ROWS: tl.constexpr, BLOCK: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK)
    col_ok = cols < hidden
    mask = (rows < tokens)[:, None] & col_ok[None, :]
    offs = rows[:, None] * hidden + cols[None, :]
    r = (tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
         + tl.load(residual_ptr + offs, mask=mask, other=0.0).to(tl.float32))
    tl.store(residual_out_ptr + offs, r.to(residual_out_ptr.dtype.element_ty), mask=mask)
    inv_rms = 1.0 / tl.sqrt(tl.sum(r * r, axis=1) / hidden + eps)
    w = tl.load(weight_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)
    y = r * inv_rms[:, None] * w[None, :]
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


def fused_add_rmsnorm(x, residual, weight, out, residual_out, eps):
    tokens, hidden = x.shape
    block = triton.next_power_of_2(hidden)
    rows = ROWS
    while rows > 1 and rows * block > 16384:  # a tile one program holds in registers without spilling
        rows //= 2
    _fused_add_rmsnorm_rows[(triton.cdiv(tokens, rows),)](x, residual, weight, out, residual_out, tokens, hidden, eps,
                                                          ROWS=rows, BLOCK=block, num_warps=NUM_WARPS)
