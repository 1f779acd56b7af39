"""Shared helpers for the Python tests: paths, real driver processes, and a lean evaluation (candidate + oracle)."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import sys
import tempfile
import types
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
RESOURCES = os.path.join(ROOT, "Sources", "KilnHarness", "Resources", "python")
FIXTURES = os.path.join(HERE, "fixtures")
EXTEND = os.path.join(ROOT, "tasks", "extend-attention-triton")
RMSNORM = os.path.join(ROOT, "tasks", "rmsnorm-triton")
INPLACE = os.path.join(ROOT, "Tests", "Fixtures", "inplace-axpy-triton")  # an in-place buffer (problem.inout)
PYTHON = sys.executable
WORKERS = 3  # driver processes started at once (a 2-core machine: they mostly wait on one another)

sys.path.insert(0, RESOURCES)
import kiln_selftest  # noqa: E402

DriverProcess = kiln_selftest.DriverProcess
DriverGone = kiln_selftest.DriverGone

_TEMP = tempfile.mkdtemp(prefix="kiln-python-tests-")


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def task(task_dir):
    return kiln_selftest.load_task(task_dir)


def shape(task_dir, name):
    return kiln_selftest.select_shapes(task(task_dir), name)[0]


def spec(task_dir, name):
    return kiln_selftest.shape_spec(shape(task_dir, name))


def log_path(label):
    return os.path.join(_TEMP, f"{label.replace('/', '_')}-{os.getpid()}-{id(label)}.log")


def start(role, task_dir, implementation, shape_spec, tunables=None, env=None, label=None):
    return DriverProcess(role, task_dir, implementation, shape_spec, device="cpu", tunables=tunables,
                         log=log_path(label or os.path.basename(implementation)), python=PYTHON, env=env)


def parallel(function, items, workers=WORKERS):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def process_gone(driver, timeout=15.0) -> bool:
    """Whether the driver's process has ended and its process group is empty."""
    try:
        driver.process.wait(timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    try:
        os.killpg(driver.process.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def conductor_options(task_dir, candidate, tunables=None):
    return types.SimpleNamespace(task=task_dir, candidate=candidate, tunables=tunables, device="cpu",
                                 logs=tempfile.mkdtemp(prefix="logs-", dir=_TEMP), cache=None, python=PYTHON,
                                 min_pairs=5, max_pairs=15, shape_budget=20.0)


def run_shape(task_dir, candidate, shape_name, tunables=None, seed=1234):
    """The conductor's whole protocol for one shape (oracle, baseline and candidate drivers)."""
    options = conductor_options(task_dir, candidate, tunables)
    return kiln_selftest.run_shape(options, task(task_dir), shape(task_dir, shape_name),
                                   kiln_selftest.SeedStream(seed))


@dataclass
class Verdict:
    kind: str                 # correct, wrong, violation, raised, timeout, modified-inputs, task-error, error, gone
    text: str = ""
    step: int = 0             # the input set it happened on (0: the first)
    check: dict = field(default_factory=dict)
    candidate: object = None  # the candidate's DriverProcess (closed)
    exit_status: int | None = None


def evaluate(task_dir, shape_name, candidate, steps=((11, 0), (11, 77)), tunables=None, call_ms=30000, env=None,
             role="candidate"):
    """Sets up, calls and checks `candidate` on each (seed, perturbation) step against the oracle (started only
    when there is something to check). Returns the first failure, or 'correct'."""
    task_table = task(task_dir)
    shape_spec = spec(task_dir, shape_name)
    cand = start(role, task_dir, candidate, shape_spec, tunables=tunables, env=env,
                 label=f"{os.path.basename(candidate)}-{shape_name}")
    oracle = None
    verdict = None
    try:
        if cand.ready.kind != "ready":
            verdict = Verdict(cand.ready.kind, cand.ready.text)
            return verdict
        for step, (seed, perturbation) in enumerate(steps):
            line = f"setup {seed} {perturbation}" if perturbation else f"setup {seed}"
            setup = cand.command(line)
            if setup.kind != "ok":
                verdict = Verdict(setup.kind, setup.text, step)
                return verdict
            call = cand.command(f"call {call_ms}", timeout=call_ms / 1000 + 60)
            if call.kind != "ok":
                verdict = Verdict(call.kind, call.text, step)
                return verdict
            if call.fields["inputs"] != setup.fields["inputs"]:
                verdict = Verdict("modified-inputs", f"{setup.fields['inputs']} -> {call.fields['inputs']}", step)
                return verdict
            outputs = cand.out()
            if oracle is None:
                oracle = start("oracle", task_dir, os.path.join(task_dir, task_table["oracle"]), shape_spec,
                               label=f"oracle-{shape_name}")
            reference = oracle.command(line)
            assert reference.fields["inputs"] == setup.fields["inputs"], "the oracle's inputs differ"
            assert oracle.command(f"call {call_ms}").kind == "ok"
            check = oracle.command(f"check {len(outputs)}", payload=outputs)
            assert check.kind == "ok", str(check)
            limits = kiln_selftest.tolerance(task_table, check.fields["dtype"])
            values = {k: check.fields[k] for k in check.fields}
            if (int(values["nonfinite"]) or float(values["max_abs"]) > limits["max_abs"]
                    or float(values["rel_l2"]) > limits["rel_l2"]):
                verdict = Verdict("wrong", str(check), step, values)
                return verdict
        verdict = Verdict("correct")
        return verdict
    except DriverGone as gone:
        verdict = Verdict("gone", str(gone))
        return verdict
    finally:
        if verdict is not None:
            verdict.candidate = cand
        if verdict is None or verdict.kind != "timeout":
            cand.close()
        if verdict is not None:
            verdict.exit_status = cand.process.poll()
        if oracle is not None:
            oracle.close()
