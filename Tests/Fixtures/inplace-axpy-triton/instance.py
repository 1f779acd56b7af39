"""The inplace-axpy-triton instance file: x is an input, y an in-place buffer. Shape parameter: n."""

import torch


def setup(shape, seed, problem):
    n = shape.int("n", 1, 1 << 26)
    g = problem.generator(seed)
    x = problem.input("x", torch.randn(n, generator=g))
    y = problem.inout("y", torch.randn(n, generator=g))
    alpha = 0.75 + float(torch.rand((), generator=g))
    problem.work(flops=2.0 * n, bytes=12.0 * n)
    problem.arguments(alpha, x, y)
