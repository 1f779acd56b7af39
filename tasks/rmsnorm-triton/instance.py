"""The rmsnorm-triton task's instance file: one batch of rows for fused add + RMSNorm from a shape and a seed.

Shape parameters: dtype (float16, bfloat16 or float32), tokens, hidden, eps (default 1e-6).

The inputs make every part of the semantics matter: x and residual are normal with different deviations (1 and
2), so dropping either changes the answer; weight is 1 + 0.5 * normal, so ignoring it does; about one row in eight
is "quiet" (both inputs scaled by 1e-3, so mean(r^2) is a few times eps and ignoring eps moves the output by
~10%), and as many are "loud" (x scaled by 30, so a sum of squares kept in fp16 overflows). With two rows or more
there is at least one of each.
"""

import torch

MAX_TOKENS = 1 << 24
MAX_HIDDEN = 1 << 20
MAX_ELEMENTS = 1 << 28
QUIET = 1e-3
LOUD = 30.0
DTYPES = ("float16", "bfloat16", "float32")


def setup(shape, seed, problem):
    name = shape.name
    if shape.str("dtype") not in DTYPES:
        problem.fail(f"rmsnorm shape '{name}': dtype = {shape.str('dtype')} must be one of {', '.join(DTYPES)}")
    dtype = shape.dtype("dtype")
    tokens = shape.int("tokens", 1, MAX_TOKENS)
    hidden = shape.int("hidden", 1, MAX_HIDDEN)
    eps = shape.float("eps", 1e-6)
    if not eps > 0:
        problem.fail(f"rmsnorm shape '{name}': eps = {eps} must be positive")
    if tokens * hidden > MAX_ELEMENTS:
        problem.fail(f"rmsnorm shape '{name}': {tokens} x {hidden} elements is more than the limit of {MAX_ELEMENTS}")

    g = problem.generator(seed)
    x = torch.randn(tokens, hidden, generator=g)
    residual = torch.randn(tokens, hidden, generator=g) * 2.0
    weight = 1.0 + 0.5 * torch.randn(hidden, generator=g)
    if tokens >= 2:
        rows = torch.randperm(tokens, generator=g)
        special = max(1, tokens // 8)
        quiet, loud = rows[:special], rows[special:2 * special]
        x[quiet] *= QUIET
        residual[quiet] *= QUIET
        x[loud] *= LOUD

    xs = problem.input("x", x.to(dtype))
    rs = problem.input("residual", residual.to(dtype))
    ws = problem.input("weight", weight.to(dtype))
    out = problem.output("out", (tokens, hidden), dtype)
    residual_out = problem.output("residual_out", (tokens, hidden), dtype)
    size = torch.empty((), dtype=dtype).element_size()
    problem.work(flops=5.0 * tokens * hidden, bytes=size * (4.0 * tokens * hidden + hidden))
    problem.arguments(xs, rs, ws, out, residual_out, eps)
