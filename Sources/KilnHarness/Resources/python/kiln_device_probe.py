"""kiln_device_probe.py: measures a GPU's peaks for Kiln, the way kiln_probe.c measures a CPU.

    python3 kiln_device_probe.py [--device cuda|cpu] [--quick]

Prints one line, `kiln-device-probe {json}`, with:
  device            the device's name (torch.cuda.get_device_name), or "cpu-interpreter"
  sms               its streaming multiprocessors
  fp32_gflops       a Triton kernel's fp32 FMA rate: every program keeps 8 independent accumulator blocks
                    in registers and runs a long chain of fused multiply-adds on them
  tensor_gflops     the best dense matrix-multiply rate of torch.matmul on fp16 and bf16 (cuBLAS, tensor
                    cores): the bound a kernel using tl.dot can approach
  bandwidth_gbs     a Triton copy kernel's rate over a buffer far larger than the L2 (bytes read + written)
  timing            "device" (CUDA events, the best of several runs after a warm-up), or "none" on the
                    CPU interpreter, where the kernels run (so this script is tested) but nothing is timed

This is trusted code: Kiln runs it itself, never a candidate's. It has been run on Triton's CPU interpreter
only; on a GPU it is implemented but not yet verified (scripts/gpu-check.sh runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Measure a GPU's FMA, tensor-core and memory peaks.")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None)
    parser.add_argument("--quick", action="store_true", help="small sizes (tests)")
    arguments = parser.parse_args(argv)
    if arguments.device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    import torch

    device = arguments.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    import triton
    import triton.language as tl

    @triton.jit
    def fma_kernel(out_ptr, a, b, ITERATIONS: tl.constexpr, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x0 = offsets.to(tl.float32) * 1e-9
        x1 = x0 + 1.0
        x2 = x0 + 2.0
        x3 = x0 + 3.0
        x4 = x0 + 4.0
        x5 = x0 + 5.0
        x6 = x0 + 6.0
        x7 = x0 + 7.0
        for _ in range(ITERATIONS):
            x0 = x0 * a + b
            x1 = x1 * a + b
            x2 = x2 * a + b
            x3 = x3 * a + b
            x4 = x4 * a + b
            x5 = x5 * a + b
            x6 = x6 * a + b
            x7 = x7 * a + b
        tl.store(out_ptr + offsets, x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7)

    @triton.jit
    def copy_kernel(source_ptr, target_ptr, count, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < count
        tl.store(target_ptr + offsets, tl.load(source_ptr + offsets, mask=mask), mask=mask)

    on_gpu = device == "cuda"
    torch_device = torch.device("cuda", 0) if on_gpu else torch.device("cpu")

    def best_seconds(run, repeats: int) -> float:
        if not on_gpu:
            run()
            return float("nan")
        run()  # compiles, warms up
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            torch.cuda.synchronize()
            best = min(best, start.elapsed_time(end) * 1e-3)
        return best

    # FMA: 8 chains x 2 FLOPs per iteration per element.
    block = 64 if arguments.quick else 1024
    programs = 2 if arguments.quick else (torch.cuda.get_device_properties(0).multi_processor_count * 64 if on_gpu else 2)
    iterations = 4 if arguments.quick else 4096
    fma_out = torch.empty(programs * block, dtype=torch.float32, device=torch_device)
    fma_seconds = best_seconds(
        lambda: fma_kernel[(programs,)](fma_out, 0.999999, 1e-7, ITERATIONS=iterations, BLOCK=block), 10)
    fma_flops = programs * block * iterations * 8 * 2

    # Copy: read and write a buffer well beyond the L2 (1 GiB of fp32 on a GPU).
    count = 4096 if arguments.quick else (1 << 28 if on_gpu else 4096)
    source = torch.empty(count, dtype=torch.float32, device=torch_device).fill_(1.0)
    target = torch.empty_like(source)
    copy_block = 1024
    copy_seconds = best_seconds(
        lambda: copy_kernel[(triton.cdiv(count, copy_block),)](source, target, count, BLOCK=copy_block), 10)
    if not bool((target == source).all()):
        print("kiln-device-probe-error the copy kernel did not copy", flush=True)
        return 1

    # Tensor cores: cuBLAS through torch.matmul, the best of fp16 and bf16 (GPU only).
    tensor_gflops = None
    if on_gpu:
        size = 8192
        best = 0.0
        for dtype in (torch.float16, torch.bfloat16):
            a = torch.randn(size, size, dtype=dtype, device=torch_device)
            b = torch.randn(size, size, dtype=dtype, device=torch_device)
            seconds = best_seconds(lambda: torch.matmul(a, b), 5)
            best = max(best, 2.0 * size ** 3 / seconds / 1e9)
            del a, b
        tensor_gflops = best

    report = {
        "device": torch.cuda.get_device_name(0) if on_gpu else "cpu-interpreter",
        "sms": torch.cuda.get_device_properties(0).multi_processor_count if on_gpu else 0,
        "fp32_gflops": fma_flops / fma_seconds / 1e9 if on_gpu else None,
        "tensor_gflops": tensor_gflops,
        "bandwidth_gbs": 2.0 * count * 4 / copy_seconds / 1e9 if on_gpu else None,
        "timing": "device" if on_gpu else "none",
        "torch": torch.__version__,
        "triton": triton.__version__,
    }
    print("kiln-device-probe " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
