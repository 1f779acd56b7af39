"""kiln_selftest.py: drives Triton drivers through protocol version 1 exactly as Kiln does, without Kiln.

    python3 kiln_selftest.py --task tasks/extend-attention-triton [--candidate FILE] [--tunables 'A=1;B=2']
        [--shapes interpreter|suite|heldout|NAME,...] [--device cuda|cpu] [--seed N] [--min-pairs 5]
        [--max-pairs 15] [--shape-budget SECONDS] [--no-timing] [--jobs N] [--logs DIR] [--cache DIR]
        [--python PYTHON]

For each shape it starts three drivers (kiln_triton_driver.py: the oracle, the baseline, the candidate),
each in its own process group, and:
  1. calls the candidate on a fresh random seed, takes its outputs, and only then sets up and calls the
     oracle on the same seed and has the oracle's driver compare (the reference never leaves it); the
     three drivers' input hashes must agree, and the call must leave the inputs' hash unchanged;
  2. checks the baseline on that first set the same way (a failing baseline means a broken task);
  3. sets the candidate up again on the same seed with a perturbation (a few inputs scaled, in the same
     buffers) and checks that second call: a candidate caching answers by pointer fails here;
  4. on a GPU (timing=device): one warm-up call each, then interleaved baseline/candidate pairs on fresh
     seeds, alternating which goes first, from --min-pairs until the per-pair ratios' interquartile
     range is under 10% of their median, or --max-pairs; every timed candidate call is checked.
It prints per shape: correct or why not, the largest error, the baseline's and the candidate's median
times and the median per-pair speedup with its interquartile range; then the geometric mean. Exit status
0 only when every shape passed; 1 when one failed; 2 on bad usage.

The candidate defaults to the task's first seed design. On the CPU interpreter nothing is timed, and
--jobs runs that many shapes at once.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import secrets
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "kiln_triton_driver.py")


# ---------------------------------------------------------------------------------------------
# One driver process


class DriverGone(Exception):
    """The driver's process ended (or stopped answering) before it replied."""


@dataclass
class Reply:
    kind: str
    text: str
    fields: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, line: str) -> "Reply":
        kind, _, rest = line.partition(" ")
        fields = {}
        for word in rest.split():
            key, eq, value = word.partition("=")
            if eq:
                fields[key] = value
        return cls(kind, rest, fields)

    def __str__(self):
        return f"{self.kind} {self.text}".strip()


class DriverProcess:
    """A driver started in its own process group, spoken to over its standard input and output."""

    def __init__(self, role, task_dir, implementation, shape_spec, device=None, tunables=None, log=None, cache=None,
                 python=None, start_timeout=180.0, env=None):
        self.role = role
        command = [python or sys.executable, DRIVER, "--role", role, "--task", task_dir, "--implementation",
                   implementation, "--shape", shape_spec]
        if device:
            command += ["--device", device]
        if tunables:
            command += ["--tunables", tunables]
        if log:
            command += ["--log", log]
        if cache:
            command += ["--cache", cache]
        environment = dict(os.environ if env is None else env)
        environment.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL if log else None, start_new_session=True,
                                        env=environment, bufsize=0)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        self._buffer = bytearray()
        self.ready = Reply.parse(self.read_line(start_timeout))
        if self.ready.kind != "ready":
            self.close()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or not self._selector.select(left):
            raise DriverGone(f"{self.role}: no reply in time")
        chunk = os.read(self.process.stdout.fileno(), 1 << 20)
        if not chunk:
            status = self.process.wait(timeout=10)
            raise DriverGone(f"{self.role}: the driver ended (status {status})")
        self._buffer += chunk

    def read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            self._fill(deadline)
        line, _, rest = self._buffer.partition(b"\n")
        self._buffer = bytearray(rest)
        return line.decode("utf-8", "replace")

    def read_bytes(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buffer) < size:
            self._fill(deadline)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def send(self, line: str, payload: bytes | None = None) -> None:
        try:
            self.process.stdin.write(line.encode() + b"\n")
            if payload:
                self.process.stdin.write(payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise DriverGone(f"{self.role}: cannot write to the driver ({error})") from None

    def receive(self, timeout: float) -> Reply:
        return Reply.parse(self.read_line(timeout))

    def command(self, line: str, timeout: float = 180.0, payload: bytes | None = None) -> Reply:
        self.send(line, payload)
        return self.receive(timeout)

    def out(self, timeout: float = 180.0) -> bytes:
        reply = self.command("out", timeout)
        if reply.kind != "ok":
            raise DriverGone(f"{self.role}: out answered '{reply}'")
        return self.read_bytes(int(reply.fields["bytes"]), timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.flush()
            except OSError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._selector.close()


# ---------------------------------------------------------------------------------------------
# Tasks


def load_task(task_dir):
    with open(os.path.join(task_dir, "task.toml"), "rb") as f:
        return tomllib.load(f)


def shape_spec(shape: dict) -> str:
    """A task.toml shape table as the protocol's --shape: 'name=x;key=value;list=1,2,3'."""
    def text(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(text(v) for v in value)
        return repr(value) if isinstance(value, float) else str(value)

    return ";".join(f"{key}={text(value)}" for key, value in shape.items())


def select_shapes(task, selection):
    sections = {"suite": task.get("suite", []), "heldout": task.get("heldout", []),
                "interpreter": task.get("interpreter_suite", [])}
    if selection in sections:
        return list(sections[selection])
    every = {s["name"]: s for section in sections.values() for s in section}
    chosen = []
    for name in selection.split(","):
        if name not in every:
            raise SystemExit(f"kiln_selftest: no shape named '{name}' (known: {', '.join(every)})")
        chosen.append(every[name])
    return chosen


def tolerance(task, dtype):
    base = dict(task.get("tolerance", {}))
    specific = base.pop(dtype, None) if dtype else None
    limits = {"max_abs": float(base.get("max_abs", 0.0)), "rel_l2": float(base.get("rel_l2", 0.0))}
    if isinstance(specific, dict):
        limits.update({k: float(v) for k, v in specific.items() if k in limits})
    return limits


# ---------------------------------------------------------------------------------------------
# One shape


@dataclass
class ShapeResult:
    name: str
    passed: bool = False
    reason: str = ""
    max_abs: float = 0.0
    rel_l2: float = 0.0
    checks: int = 0
    baseline_ns: float | None = None
    candidate_ns: float | None = None
    speedup: float | None = None
    iqr: tuple | None = None
    pairs: int = 0
    noisy: bool = False
    log_dir: str = ""


class Failure(Exception):
    pass


class ShapeRun:
    def __init__(self, options, task, shape, seeds):
        self.options, self.task, self.shape, self.seeds = options, task, shape, seeds
        self.result = ShapeResult(shape["name"])
        self.timeout_ms = int(float(task.get("limits", {}).get("call_timeout", 60.0)) * 1000)
        self.call_wait = self.timeout_ms / 1000.0 + 60.0
        self.drivers = {}

    def start(self):
        o = self.options
        spec = shape_spec(self.shape)
        log_dir = os.path.join(o.logs, self.shape["name"])
        os.makedirs(log_dir, exist_ok=True)
        self.result.log_dir = log_dir
        plan = {"oracle": (os.path.join(o.task, self.task["oracle"]), None),
                "baseline": (os.path.join(o.task, self.task["baseline"]), None),
                "candidate": (o.candidate, o.tunables)}
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = {role: pool.submit(DriverProcess, role, o.task, path, spec, o.device, tunables,
                                         os.path.join(log_dir, f"{role}.log"), o.cache, o.python)
                       for role, (path, tunables) in plan.items()}
            for role, future in futures.items():
                self.drivers[role] = future.result()
        for role, driver in self.drivers.items():
            if driver.ready.kind != "ready":
                raise Failure(f"{role} driver did not start: {driver.ready}")
        self.timed = all(d.ready.fields.get("timing") == "device" for d in self.drivers.values())

    def close(self):
        for driver in self.drivers.values():
            driver.close()

    # -- protocol steps

    def _expect_ok(self, role, reply, what):
        if reply.kind == "ok":
            return reply
        if role == "candidate":
            if reply.kind == "timeout":
                raise Failure(f"timeout: the candidate's {what} passed its deadline of {self.timeout_ms} ms")
            raise Failure(f"{reply.kind}: {reply.text}" if reply.kind in ("violation", "raised") else
                          f"the candidate's {what} answered '{reply}'")
        raise Failure(f"the {role} failed ({what}): {reply} -- the task or the environment is broken")

    def setup(self, roles, seed, perturbation=0):
        line = f"setup {seed} {perturbation}" if perturbation else f"setup {seed}"
        for role in roles:
            self.drivers[role].send(line)
        hashes = {}
        for role in roles:
            reply = self._expect_ok(role, self.drivers[role].receive(self.call_wait), "setup")
            hashes[role] = reply.fields.get("inputs")
            self.output_bytes = int(reply.fields.get("outputs", 0))
        if len(set(hashes.values())) > 1:
            raise Failure(f"the drivers' input hashes differ ({hashes}): the instance is not a function of (shape, "
                          "seed)")
        self.input_hash = next(iter(hashes.values()))
        return self.input_hash

    def call(self, role):
        reply = self._expect_ok(role, self.drivers[role].command(f"call {self.timeout_ms}", self.call_wait), "call")
        if reply.fields.get("inputs") != self.input_hash:
            raise Failure(f"the {role} modified its inputs (hash {self.input_hash} before, {reply.fields.get('inputs')} "
                          "after the call)")
        return int(reply.fields["ns"])

    def check_against_oracle(self, role, seed, perturbation=0, oracle_ready=False):
        """Takes `role`'s outputs, then (unless already done for this input set) sets up and calls the oracle."""
        outputs = self.drivers[role].out(self.call_wait)
        if not oracle_ready:
            self.setup(["oracle"], seed, perturbation)
            if self.input_hash != self._last_hash.get(role):
                raise Failure(f"the oracle's inputs differ from the {role}'s for seed {seed}")
            self.call("oracle")
        reply = self.drivers["oracle"].command(f"check {len(outputs)}", self.call_wait, outputs)
        if reply.kind != "ok":
            raise Failure(f"the oracle's check answered '{reply}'")
        f = reply.fields
        max_abs, rel_l2, nonfinite = float(f["max_abs"]), float(f["rel_l2"]), int(f["nonfinite"])
        limits = tolerance(self.task, f.get("dtype"))
        self.result.checks += 1
        if role == "candidate":
            self.result.max_abs = max(self.result.max_abs, max_abs)
            self.result.rel_l2 = max(self.result.rel_l2, rel_l2)
        where = f"worst {f.get('worst')} expected {f.get('expected')} got {f.get('got')}"
        who = "the candidate" if role == "candidate" else "the baseline (the task is broken)"
        if nonfinite:
            raise Failure(f"wrong: {who} left {nonfinite} non-finite outputs ({where})")
        if max_abs > limits["max_abs"] or rel_l2 > limits["rel_l2"]:
            raise Failure(f"wrong: {who}: max_abs {max_abs:.3g} (limit {limits['max_abs']:.3g}), rel_l2 {rel_l2:.3g} "
                          f"(limit {limits['rel_l2']:.3g}) for {f.get('dtype')}; {where}")

    def checked_call(self, role, seed, perturbation=0):
        self._last_hash[role] = self.setup([role], seed, perturbation)
        self.call(role)
        self.check_against_oracle(role, seed, perturbation)

    # -- the whole shape

    def run(self):
        self._last_hash = {}
        self.start()
        first = self.seeds()
        self.checked_call("candidate", first)
        # the baseline on the same set: the oracle's last call was on this set, so it holds the reference
        self._last_hash["baseline"] = self.setup(["baseline"], first)
        if self._last_hash["baseline"] != self._last_hash["candidate"]:
            raise Failure(f"the baseline's inputs differ from the candidate's for seed {first}")
        self.call("baseline")
        self.check_against_oracle("baseline", first, oracle_ready=True)
        perturbation = self.seeds() | 1
        self.checked_call("candidate", first, perturbation)
        if self.timed and not getattr(self.options, "no_timing", False):
            self.time_pairs()
        self.result.passed = True

    def time_pairs(self):
        o = self.options
        for role in ("baseline", "candidate"):  # warm-up: compilation and caches, not timed
            self.setup([role], self.seeds())
            self.call(role)
        ratios, base_times, cand_times = [], [], []
        started = time.monotonic()
        for i in range(o.max_pairs):
            seed = self.seeds()
            self.setup(["baseline", "candidate"], seed)
            self._last_hash["candidate"] = self.input_hash
            order = ("baseline", "candidate") if i % 2 == 0 else ("candidate", "baseline")
            times = {role: self.call(role) for role in order}
            self.check_against_oracle("candidate", seed)
            base_times.append(times["baseline"])
            cand_times.append(times["candidate"])
            ratios.append(times["baseline"] / max(times["candidate"], 1))
            if len(ratios) >= o.min_pairs:
                q1, median, q3 = quartiles(ratios)
                if (q3 - q1) < 0.1 * median or time.monotonic() - started > o.shape_budget:
                    break
        q1, median, q3 = quartiles(ratios)
        r = self.result
        r.baseline_ns, r.candidate_ns = statistics.median(base_times), statistics.median(cand_times)
        r.speedup, r.iqr, r.pairs = median, (q1, q3), len(ratios)
        r.noisy = (q3 - q1) >= 0.1 * median


def quartiles(values):
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def run_shape(options, task, shape, seeds):
    run = ShapeRun(options, task, shape, seeds)
    try:
        run.run()
    except Failure as failure:
        run.result.reason = str(failure)
    except DriverGone as gone:
        run.result.reason = f"a driver stopped answering: {gone}"
    finally:
        run.close()
    return run.result


# ---------------------------------------------------------------------------------------------
# Printing


def milliseconds(ns):
    return "-" if ns is None else f"{ns / 1e6:.3f} ms"


def describe(result: ShapeResult) -> str:
    if not result.passed:
        return f"{result.name:24s} FAILED  {result.reason}  (logs: {result.log_dir})"
    text = f"{result.name:24s} correct  max_abs {result.max_abs:.3g}  rel_l2 {result.rel_l2:.3g}  ({result.checks} checks)"
    if result.speedup is not None:
        q1, q3 = result.iqr
        text += (f"  baseline {milliseconds(result.baseline_ns)}  candidate {milliseconds(result.candidate_ns)}"
                 f"  speedup {result.speedup:.2f}x [{q1:.2f}-{q3:.2f}] over {result.pairs} pairs"
                 + ("  (noisy)" if result.noisy else ""))
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description="Drive Kiln's Triton drivers as Kiln does: check and time a candidate.")
    parser.add_argument("--task", required=True)
    parser.add_argument("--candidate")
    parser.add_argument("--tunables")
    parser.add_argument("--shapes", default=None, help="interpreter, suite, heldout or NAME,... (default: suite on a "
                        "GPU, interpreter on the CPU)")
    parser.add_argument("--device", choices=("cuda", "cpu"))
    parser.add_argument("--seed", type=int, help="a fixed seed stream, for reproducing a result")
    parser.add_argument("--min-pairs", type=int, default=5)
    parser.add_argument("--max-pairs", type=int, default=15)
    parser.add_argument("--shape-budget", type=float, default=20.0, help="seconds of timed pairs per shape")
    parser.add_argument("--no-timing", action="store_true", help="check correctness only, even on a GPU")
    parser.add_argument("--jobs", type=int, default=1, help="shapes at once (CPU interpreter only)")
    parser.add_argument("--logs", help="keep the drivers' logs here (default: a temporary folder)")
    parser.add_argument("--cache", help="Triton's cache folder for the drivers")
    parser.add_argument("--python", help="the Python that runs the drivers (default: this one)")
    options = parser.parse_args(argv)
    if options.min_pairs < 1 or options.max_pairs < options.min_pairs:
        parser.error("need 1 <= --min-pairs <= --max-pairs")
    try:
        task = load_task(options.task)
    except (OSError, tomllib.TOMLDecodeError) as error:
        parser.error(f"cannot read {options.task}/task.toml: {error}")
    if options.candidate is None:
        seeds = task.get("seeds") or [task["baseline"]]
        options.candidate = os.path.join(options.task, seeds[0])
    if options.device is None:
        options.device = "cuda" if _gpu_available(options.python) else "cpu"
    if options.shapes is None:
        options.shapes = "suite" if options.device == "cuda" else "interpreter"
    shapes = select_shapes(task, options.shapes)
    if not shapes:
        parser.error(f"the task has no {options.shapes} shapes")
    keep_logs = options.logs is not None
    options.logs = options.logs or tempfile.mkdtemp(prefix="kiln-selftest-")
    seeds = SeedStream(options.seed)
    jobs = 1 if options.device == "cuda" else max(1, options.jobs)
    print(f"{task.get('name', options.task)}: candidate {options.candidate} on {len(shapes)} {options.shapes} shapes, "
          f"device {options.device}", flush=True)
    results = []
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for result in pool.map(lambda s: run_shape(options, task, s, seeds), shapes):
            print(describe(result), flush=True)
            results.append(result)
    passed = all(r.passed for r in results)
    speedups = [r.speedup for r in results if r.speedup]
    if passed and speedups and len(speedups) == len(results):
        geomean = math.exp(sum(math.log(s) for s in speedups) / len(speedups))
        print(f"geometric-mean speedup {geomean:.2f}x over {len(speedups)} shapes")
    print("PASSED" if passed else "FAILED", flush=True)
    if passed and not keep_logs:
        shutil.rmtree(options.logs, ignore_errors=True)
    return 0 if passed else 1


class SeedStream:
    """Seeds for input sets: from the system's CSPRNG, or a fixed stream from --seed."""

    def __init__(self, seed):
        self._state = seed

    def __call__(self):
        if self._state is None:
            return secrets.randbits(63)
        self._state = (self._state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return self._state >> 1


def _gpu_available(python):
    if python is None:
        try:
            import torch

            return torch.cuda.is_available()
        except Exception:  # noqa: BLE001
            return False
    probe = subprocess.run([python, "-c", "import torch; print(torch.cuda.is_available())"], capture_output=True,
                           text=True)
    return probe.stdout.strip() == "True"


if __name__ == "__main__":
    sys.exit(main())
