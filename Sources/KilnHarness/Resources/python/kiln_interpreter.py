"""kiln_interpreter: corrections to Triton's CPU interpreter, so that it computes what a GPU computes.

The driver applies these only with `--device cpu` (TRITON_INTERPRET=1), after importing triton and
before any candidate is loaded. Each fix first probes the interpreter for the fault it corrects and
patches only when the fault is there, so a Triton release that fixes it gets no patch:

- bf16_dot: `tl.dot` on bfloat16 operands. The interpreter keeps bfloat16 values as their uint16 bit
  patterns and hands those to numpy's matmul as integers (Triton 3.9: errors of 1e10 on unit inputs).
  The fix widens both operands to float32 (exact) before the product, as the GPU's MMA does.
- bf16_rounding: float32 -> bfloat16 conversion. The interpreter truncates; the GPU rounds to the
  nearest even. The fix rounds to nearest even (NaN stays NaN).

Without these, a correct kernel fails on bf16 shapes in the interpreter and passes on the GPU.
"""

from __future__ import annotations


def apply() -> list[str]:
    """Applies the fixes the installed interpreter needs; returns their names."""
    try:
        import numpy as np
        import triton.language as tl
        from triton.runtime import interpreter
    except Exception:
        return []
    builder = getattr(interpreter, "InterpreterBuilder", None)
    handle = getattr(interpreter, "TensorHandle", None)
    if builder is None or handle is None:
        return []
    applied = []
    if _fix_bf16_dot(np, tl, builder, handle):
        applied.append("bf16_dot")
    if _fix_bf16_rounding(np, tl, builder, handle):
        applied.append("bf16_rounding")
    return applied


def _bf16_bits(np, values):
    """float32 values -> bfloat16 bit patterns, rounded to nearest even (NaN kept)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = ((bits.astype(np.uint64) + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(values)
    if np.any(nan):
        rounded = np.where(nan, np.uint16(0x7FC0) | ((bits >> 16).astype(np.uint16) & np.uint16(0x8000)), rounded)
    return rounded


def _bf16_to_f32(np, bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _fix_bf16_dot(np, tl, builder_class, handle_class) -> bool:
    original = getattr(builder_class, "create_dot", None)
    if original is None:
        return False
    try:
        one = _bf16_bits(np, np.ones((2, 2), dtype=np.float32))
        a = handle_class(one, tl.bfloat16)
        acc = handle_class(np.zeros((2, 2), dtype=np.float32), tl.float32)
        probe = original(builder_class(), a, a, acc, None, None)
        if np.allclose(np.asarray(probe.data, dtype=np.float64), 2.0):
            return False
    except Exception:
        pass  # a probe that fails is taken as the fault: the patch below handles this case

    def create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        if a.dtype.scalar == tl.bfloat16 and a.data.dtype == np.uint16:
            a = handle_class(_bf16_to_f32(np, a.data), tl.float32)
        if b.dtype.scalar == tl.bfloat16 and b.data.dtype == np.uint16:
            b = handle_class(_bf16_to_f32(np, b.data), tl.float32)
        return original(self, a, b, d, input_precision, max_num_imprecise_acc)

    builder_class.create_dot = create_dot
    return True


def _fix_bf16_rounding(np, tl, builder_class, handle_class) -> bool:
    original = getattr(builder_class, "cast_impl", None)
    if original is None:
        return False
    value = np.array([1.0 + 3.0 * 2.0 ** -9], dtype=np.float32)  # rounds up to 1 + 2**-7, truncates to 1
    try:
        probe = original(builder_class(), handle_class(value, tl.float32), tl.bfloat16)
        if int(np.asarray(probe.data).view(np.uint16)[0]) == int(_bf16_bits(np, value)[0]):
            return False
    except Exception:
        return False  # an interpreter whose casts look different: leave it alone

    def cast_impl(self, src, dst_type):
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.bfloat16:
            return handle_class(_bf16_bits(np, src.data), dst_type.scalar)
        return original(self, src, dst_type)

    builder_class.cast_impl = cast_impl  # create_fp_trunc and the other casts call self.cast_impl
    return True
