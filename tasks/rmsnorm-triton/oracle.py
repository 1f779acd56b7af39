"""The rmsnorm-triton oracle: the semantics of signature.py in float64 PyTorch (trusted: any torch op)."""

import torch


def fused_add_rmsnorm(x, residual, weight, out, residual_out, eps):
    r = x.double() + residual.double()
    residual_out.copy_(r.to(residual_out.dtype))
    scale = torch.rsqrt((r * r).mean(dim=-1, keepdim=True) + eps)
    out.copy_((r * scale * weight.double()).to(out.dtype))
