"""The oracle: y + alpha * x in float64, rounded once (trusted: any torch op)."""


def axpy(alpha, x, y):
    y.copy_((y.double() + alpha * x.double()).to(y.dtype))
