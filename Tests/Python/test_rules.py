"""kiln_rules and kiln_task in-process: the static check, the run-time ban, tunables and shapes."""

import os
import unittest

import support  # noqa: F401 (puts the resources folder on the path)
import kiln_rules as rules
import kiln_task
import torch

SIGNATURE = ["x", "y"]

ALLOWED = '''
from __future__ import annotations
import math
import torch
import triton
import triton.language as tl
from typing import Optional
from functools import lru_cache
from dataclasses import dataclass


@dataclass
class Plan:
    block: int


@triton.jit
def _copy(x, y, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y + offs, tl.load(x + offs, mask=offs < n), mask=offs < n)


def f(x: torch.Tensor, y: torch.Tensor) -> None:
    n = x.numel()
    scratch = torch.empty((4,), dtype=torch.float16, device=x.device)
    plan = Plan(block=BLOCK_M)
    _copy[(triton.cdiv(n, plan.block),)](x, y, n, BLOCK=plan.block)
    print(math.sqrt(2.0), len([scratch]), tl.float32)
'''

REFUSED = {
    # snippet: the reason's text
    "import os\ndef f(x, y): pass": "import of 'os' is not allowed",
    "import subprocess\ndef f(x, y): pass": "import of 'subprocess' is not allowed",
    "import ctypes\ndef f(x, y): pass": "import of 'ctypes' is not allowed",
    "import importlib\ndef f(x, y): pass": "import of 'importlib' is not allowed",
    "import torch.nn.functional as F\ndef f(x, y): pass": "import of 'torch.nn.functional' is not allowed",
    "from torch.nn import functional\ndef f(x, y): pass": "import of 'torch.nn' is not allowed",
    "import torch\ndef f(x, y):\n    torch.matmul(x, y)": "'torch.matmul' is not allowed",
    "import torch\ndef f(x, y):\n    torch.nn.functional.scaled_dot_product_attention(x, y, y)": "'torch.nn.functional",
    "import torch\ndef f(x, y):\n    torch.ops.aten.mm(x, y)": "'torch.ops.aten.mm' is not allowed",
    "import torch\ndef f(x, y):\n    torch.cuda.synchronize()": "'torch.cuda.synchronize' is not allowed",
    "import torch\ndef f(x, y):\n    torch._C": "private attribute",
    "from torch import matmul\ndef f(x, y): matmul(x, y)": "'torch.matmul' is not allowed",
    "import torch\nt = torch\ndef f(x, y): t.mm(x, y)": "may only be used through its attributes",
    "import torch\ndef f(x, y):\n    torch.empty = None": "modules are read-only",
    "import triton\n@triton.autotune(configs=[], key=[])\ndef f(x, y): pass": "'triton.autotune' is not allowed",
    "import triton\ndef f(x, y): triton.runtime": "'triton.runtime' is not allowed",
    "import triton.language as tl\ndef f(x, y): tl.core.builtins": "reaches Triton's internals",
    "import dataclasses\ndef f(x, y): dataclasses.sys": "reaches the module 'sys'",
    "from math import *\ndef f(x, y): pass": "import *",
    "from . import x\ndef f(x, y): pass": "relative imports",
    "def f(x, y):\n    getattr(x, 'mm')": "'getattr' is not allowed",
    "def f(x, y):\n    eval('1')": "'eval' is not allowed",
    "def f(x, y):\n    exec('1')": "'exec' is not allowed",
    "def f(x, y):\n    compile('1', '', 'eval')": "'compile' is not allowed",
    "def f(x, y):\n    open('/etc/passwd')": "'open' is not allowed",
    "def f(x, y):\n    __import__('os')": "'__import__' is not allowed",
    "def f(x, y):\n    globals()['x']": "'globals' is not allowed",
    "def f(x, y):\n    x.__class__": "the attribute '__class__' is not allowed",
    "def f(x, y):\n    f.__globals__": "the attribute '__globals__' is not allowed",
    "def f(x, y):\n    (i for i in ()).gi_frame": "'.gi_frame' is not allowed",
    "def f(x, y):\n    x.numpy()": "'.numpy' is not allowed",
    "def f(x, y):\n    x.tolist()": "'.tolist' is not allowed",
    "def f(x, y):\n    x.untyped_storage()": "'.untyped_storage' is not allowed",
    "def f(x, y):\n    np.matmul(x, y)": "the name 'np' is never defined",
    "def g(np): pass\ndef f(x, y):\n    np.matmul(x, y)": "the name 'np' is never defined",
    "def f(x, y):\n    return os": "'os' is not allowed",
    "def f(x): pass": "does not match the signature f(x, y)",
    "def f(x, y, *rest): pass": "only the signature's positional parameters",
    "def g(x, y): pass": "does not define f() at module level",
    "def f(x, y) pass": "syntax error",
}


class StaticCheckTests(unittest.TestCase):
    def test_allows_what_a_kernel_needs(self):
        rules.static_check(ALLOWED, "c.py", "f", SIGNATURE, tunables=["BLOCK_M"])

    def test_refuses_each_escape_with_its_reason_and_line(self):
        for source, reason in REFUSED.items():
            with self.subTest(source=source):
                with self.assertRaises(rules.StaticViolation) as caught:
                    rules.static_check(source, "c.py", "f", SIGNATURE)
                self.assertIn(reason, str(caught.exception))
                if "does not define" not in reason:
                    self.assertIsNotNone(caught.exception.line)

    def test_a_tunable_name_is_defined_only_when_declared(self):
        source = "def f(x, y):\n    return BLOCK_M"
        rules.static_check(source, "c.py", "f", SIGNATURE, tunables=["BLOCK_M"])
        with self.assertRaises(rules.StaticViolation):
            rules.static_check(source, "c.py", "f", SIGNATURE)

    def test_the_bundled_implementations_pass(self):
        for task_dir in (support.EXTEND, support.RMSNORM):
            table = support.task(task_dir)
            with open(os.path.join(task_dir, table["signature"])) as f:
                expected = rules.signature_parameters(f.read(), table["entry_point"])
            for name in [table["baseline"], *table["seeds"]]:
                with self.subTest(implementation=name), open(os.path.join(task_dir, name)) as f:
                    source = f.read()
                    defaults, _ = rules.parse_tunables(source)
                    rules.static_check(source, name, table["entry_point"], expected,
                                       imports=table["python"]["imports"], torch_allowed=table["torch"]["allowed"],
                                       tunables=defaults)


class RuntimeBanTests(unittest.TestCase):
    def test_allocation_views_and_shape_queries_pass(self):
        x = torch.randn(4, 6)
        with rules.runtime_ban(interpreter_allowed=False) as ban:
            torch.empty(3)
            torch.zeros(2, 2).fill_(1.0)
            torch.full((2,), 7.0)
            torch.empty_like(x)
            x.view(6, 4).t().transpose(0, 1)[1:, ::2].unsqueeze(0).permute(2, 0, 1)
            x.reshape(-1).split(4)  # a reshape that needs no copy
            x.shape, x.stride(), x.numel(), x.is_contiguous(), x.data_ptr(), x.dtype, x.device
        self.assertIsNone(ban.violation)

    def test_computation_is_refused_and_the_first_is_kept(self):
        x = torch.randn(4, 4)
        for name, work in [("mm", lambda: x @ x), ("sum", lambda: x.sum()), ("_to_copy", lambda: x.half()),
                           ("copy_", lambda: x.copy_(x.t())), ("exp", lambda: x.exp()),
                           ("clone", lambda: x.t().contiguous()), ("_local_scalar_dense", lambda: x[0, 0].item())]:
            with self.subTest(op=name):
                with rules.runtime_ban(interpreter_allowed=False) as ban:
                    with self.assertRaises(rules.ForbiddenOp):
                        work()
                    try:  # caught by the candidate: still recorded
                        x.abs()
                    except rules.ForbiddenOp:
                        pass
                self.assertIn(f"aten.{name} ", ban.violation)

    def test_the_interpreter_allowance_is_only_for_the_interpreter(self):
        x = torch.randn(4)
        with rules.runtime_ban(interpreter_allowed=True) as ban:
            with self.assertRaises(rules.ForbiddenOp):
                x.copy_(x)  # the same storage, but not called by Triton's interpreter
        self.assertIn("aten.copy_", ban.violation)


class TunableTests(unittest.TestCase):
    def test_declarations_and_assignments(self):
        defaults, declared = rules.parse_tunables("# kiln:tunable BLOCK 64 32 128\n  #kiln:tunable MODE fast exact\n")
        self.assertEqual(defaults, {"BLOCK": 64, "MODE": "fast"})
        self.assertEqual(declared[0], ("BLOCK", [64, 32, 128], 1))
        self.assertEqual(rules.parse_assignments("BLOCK=32;RATE=0.5;MODE=exact"),
                         {"BLOCK": 32, "RATE": 0.5, "MODE": "exact"})
        for bad in ("# kiln:tunable BLOCK\n", "# kiln:tunable 9X 1\n", "# kiln:tunable A 1\n# kiln:tunable A 2\n"):
            with self.subTest(source=bad), self.assertRaises(rules.StaticViolation):
                rules.parse_tunables(bad)
        with self.assertRaises(ValueError):
            rules.parse_assignments("BLOCK")


class ShapeTests(unittest.TestCase):
    def test_parsing_and_accessors(self):
        shape = kiln_task.parse_shape("name=x;batch=2;prefix=0,5;cap=30.0;dtype=bfloat16;one=7")
        self.assertEqual(shape.name, "x")
        self.assertEqual(shape.int("batch", 1, 4), 2)
        self.assertEqual(shape.ints("prefix", 2), [0, 5])
        self.assertEqual(shape.ints("one"), [7])  # a one-element list reads as a scalar
        self.assertEqual(shape.float("cap"), 30.0)
        self.assertEqual(shape.float("missing", 1e-6), 1e-6)
        self.assertIs(shape.dtype(), torch.bfloat16)
        for call, message in [(lambda: shape.int("nope"), "lacks the parameter 'nope'"),
                              (lambda: shape.int("batch", 3), "batch = 2 must be in 3..inf"),
                              (lambda: shape.int("cap"), "is not an integer"),
                              (lambda: shape.ints("prefix", 3), "has 2 entries but 3 are needed"),
                              (lambda: kiln_task.parse_shape("a=1;a=2"), "given twice"),
                              (lambda: kiln_task.parse_shape("a"), "has no '='")]:
            with self.subTest(message=message):
                with self.assertRaises(kiln_task.TaskError) as caught:
                    call()
                self.assertIn(message, str(caught.exception))

    def test_buffers_are_reused_and_guarded(self):
        problem = kiln_task.Problem(torch.device("cpu"))
        problem.begin()
        first = problem.input("a", torch.ones(3, 4))
        out = problem.output("o", (3,), torch.float16)
        problem.begin()
        again = problem.input("a", torch.zeros(3, 4))
        self.assertEqual(again.data_ptr(), first.data_ptr())  # the same storage for the same shape
        self.assertEqual(float(first.sum()), 0.0)
        buffer = problem.buffers[0]
        self.assertIsNone(buffer.guard_damage())
        buffer.raw[-1] = 0
        self.assertEqual(buffer.guard_damage(), "after")
        buffer.reset_guards()
        self.assertIsNone(buffer.guard_damage())
        self.assertFalse(buffer.replaced())
        first.data = torch.zeros(3, 4)
        self.assertTrue(buffer.replaced())
        self.assertEqual(out.dtype, torch.float16)


if __name__ == "__main__":
    unittest.main()
