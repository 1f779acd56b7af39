"""Compiles a Triton implementation's kernels for a GPU that is not there (sm_90: H100/H200), through its own
entry point, and checks what each launch would ask of the GPU.

    python triton_aot.py --task TASK_DIR --implementation FILE --shapes suite|heldout|suite+heldout|NAME,...
        [--tunables 'A=1;B=2']

A stub Triton driver stands in for CUDA: the JIT specialises and compiles every kernel the entry point launches
to a cubin for the target (with the ptxas bundled with Triton), and the stub records each launch instead of
running it. Each launch is checked against the target's limits: grid dimensions (x < 2**31, y and z <= 65535),
shared memory (<= 227 KiB) and threads per block. Arguments are the task's real instance, built on the CPU.

This catches what the CPU interpreter cannot (the interpreter ignores types, loop-carried dtypes, dot shapes,
constexpr rules and resource limits); it does not run anything, so it says nothing of a kernel's results on a
GPU. It needs a Triton with its NVIDIA backend (the pip wheel has one) and is skipped elsewhere. Prints one JSON
object: {"launches": [...], "errors": [...]}.
"""

import argparse
import json
import linecache
import os
import sys
import tempfile
import tomllib
import traceback
import types

HERE = os.path.dirname(os.path.abspath(__file__))
RESOURCES = os.path.join(HERE, "..", "..", "Sources", "KilnHarness", "Resources", "python")

MAX_SHARED = 232448  # bytes of shared memory a block may use on sm_90
MAX_THREADS = 1024


def make_stub_driver(launches):
    from triton.backends.compiler import GPUTarget

    class Utils:
        def get_device_properties(self, device):
            return {"max_shared_mem": MAX_SHARED, "multiprocessor_count": 132, "max_num_regs": 65536,
                    "warpSize": 32, "sm_clock_rate": 1980000, "mem_clock_rate": 2619000, "mem_bus_width": 5120}

        def load_binary(self, name, kernel, shared, device):
            return (1, 1, 0, 0, MAX_THREADS)

        def unload_module(self, module):
            pass

    class Launcher:
        def __init__(self, src, metadata):
            self.name = getattr(metadata, "name", "?")
            self.metadata = metadata

        def __call__(self, grid_x, grid_y, grid_z, stream, function, *rest):
            m = self.metadata
            launches.append({"kernel": self.name, "grid": [grid_x, grid_y, grid_z], "num_warps": m.num_warps,
                             "num_stages": getattr(m, "num_stages", None), "shared": m.shared})

    class StubDriver:
        def __init__(self):
            self.utils = Utils()
            self.launcher_cls = Launcher

        def get_current_device(self):
            return 0

        def set_current_device(self, device):
            pass

        def get_current_stream(self, device=None):
            return 0

        def get_current_target(self):
            return GPUTarget("cuda", 90, 32)

        def get_active_torch_device(self):
            import torch

            return torch.device("cpu")

        def get_device_interface(self):
            import torch

            return torch.cuda

        def get_device_capability(self, device=None):
            return (9, 0)

        def map_python_to_cpp_type(self, ty):
            return ty

        def get_benchmarker(self):
            raise RuntimeError("no benchmarking in an ahead-of-time compile")

        @staticmethod
        def is_active():
            return True

    return StubDriver()


def load_module(path, tunables):
    sys.path.insert(0, RESOURCES)
    import kiln_rules

    with open(path, encoding="utf-8") as f:
        source = f.read()
    defaults, _ = kiln_rules.parse_tunables(source)
    module = types.ModuleType("kiln_implementation")
    module.__file__ = path
    module.__dict__.update({**defaults, **kiln_rules.parse_assignments(tunables)})
    sys.modules["kiln_implementation"] = module
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    exec(compile(source, path, "exec", dont_inherit=True), module.__dict__)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", required=True)
    parser.add_argument("--implementation", required=True)
    parser.add_argument("--shapes", default="suite")
    parser.add_argument("--tunables")
    options = parser.parse_args(argv)
    os.environ.pop("TRITON_INTERPRET", None)
    os.environ.setdefault("TRITON_CACHE_DIR", tempfile.mkdtemp(prefix="kiln-aot-"))
    import torch  # noqa: F401
    import triton  # noqa: F401
    from triton.runtime.driver import driver

    sys.path.insert(0, RESOURCES)
    import kiln_selftest
    import kiln_task

    with open(os.path.join(options.task, "task.toml"), "rb") as f:
        task = tomllib.load(f)
    launches, errors = [], []
    driver.set_active(make_stub_driver(launches))
    module = load_module(options.implementation, options.tunables)
    entry = getattr(module, task["entry_point"])
    namespace = {}
    with open(os.path.join(options.task, task["instance"]), encoding="utf-8") as f:
        exec(compile(f.read(), task["instance"], "exec"), namespace)
    shapes = [s for part in options.shapes.split("+") for s in kiln_selftest.select_shapes(task, part)]
    for shape in shapes:
        problem = kiln_task.Problem(torch.device("cpu"))
        problem.begin()
        namespace["setup"](kiln_task.parse_shape(kiln_selftest.shape_spec(shape)), 1, problem)
        problem.finish()
        first = len(launches)
        try:
            entry(*problem.call_arguments)
        except Exception as error:  # noqa: BLE001
            errors.append({"shape": shape["name"], "error": f"{type(error).__name__}: {error}",
                           "trace": traceback.format_exc()[-2000:]})
            continue
        if len(launches) == first:
            errors.append({"shape": shape["name"], "error": "no kernel was launched"})
        for launch in launches[first:]:
            launch["shape"] = shape["name"]
            x, y, z = launch["grid"]
            if not (0 < x < 2**31 and 0 < y <= 65535 and 0 < z <= 65535):
                errors.append({"shape": shape["name"], "error": f"grid {launch['grid']} is outside sm_90's limits"})
            if launch["shared"] > MAX_SHARED:
                errors.append({"shape": shape["name"], "error": f"{launch['shared']} bytes of shared memory > "
                               f"{MAX_SHARED}"})
            if launch["num_warps"] * 32 > MAX_THREADS:
                errors.append({"shape": shape["name"], "error": f"{launch['num_warps']} warps > {MAX_THREADS} threads"})
    print(json.dumps({"launches": launches, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
