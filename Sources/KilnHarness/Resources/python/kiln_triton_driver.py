"""kiln_triton_driver.py: Kiln's driver for Triton implementations on PyTorch (protocol version 1).

One driver process serves one implementation (the oracle, the baseline or a candidate) on one shape.
It builds each problem instance itself with the task's instance file (see kiln_task.py), calls the
implementation's entry point on it, times the call, and answers for what it produced:

    python3 kiln_triton_driver.py --role oracle|baseline|candidate --task TASK_DIR --implementation FILE
        --shape 'name=prefill;batch=1;prefix=0;extend=512;...' [--tunables 'BLOCK_M=64;BLOCK_N=32']
        [--device cuda|cpu] [--log PATH] [--cache DIR]

--device cpu runs kernels in Triton's interpreter (TRITON_INTERPRET=1, set before triton is imported;
see kiln_interpreter.py for the interpreter's faults the driver corrects, unless KILN_INTERPRETER_FIXES=0
in the environment); the default is cuda when
torch sees a GPU, else cpu. --log receives everything the task and the implementation print (without
it, standard error does). --cache is the folder Triton compiles into (TRITON_CACHE_DIR; the driver
writes nowhere else). --tunables sets the implementation's declared tunables (`# kiln:tunable NAME
DEFAULT ALT...` comment lines): each becomes a module-level name, set before the module's body runs.

The protocol runs on private copies of the original standard input and output, made before anything
else runs; descriptor 0 then reads /dev/null and descriptors 1 and 2 write to the log. The first line
out is

    ready backend=triton device=cuda:0|cpu-interpreter timing=device|none torch=VERSION triton=VERSION

then each command on a line of standard input gets one reply line (raw bytes follow where said):

  setup SEED [P]  build a fresh instance from (shape, SEED), in the previous instance's tensors (same
                  storage and pointers) when the shape declares the same buffers; with P != 0, then
                  scale about count/64+1 values of each float input, chosen by P, by factors in
                  [0.5, 1.5). The first setup also loads the implementation (its body runs under the
                  task's call_timeout).
                  -> ok inputs=HEX16 outputs=BYTES flops=F bytes=B
  call MS         fill outputs with NaN (integers: -1), call the entry point once with a deadline of
                  MS ms, synchronise the device. On a GPU, ns is device time: the L2 is flushed (a
                  256 MiB scratch tensor is written), torch.cuda.synchronize(), an event is recorded
                  on the current stream, the call, an event, torch.cuda.synchronize(); on the CPU
                  interpreter ns is the wall time (and the ready line says timing=none).
                  -> ok ns=N inputs=HEX16            (the inputs' hash after the call)
                  -> raised TYPE: MESSAGE            (the implementation raised; message cut to 300)
                  -> violation REASON                (a rule the driver checks was broken)
                  -> timeout ns=N                    (the deadline passed; the driver exits, status 5)
  out             -> ok bytes=N, then N raw bytes: every output as the last call left it, in
                  declaration order, each in its dtype's contiguous little-endian bytes
  check N         then N raw bytes (another implementation's outputs, laid out as `out` sends them),
                  compared in float64 with this driver's outputs of its last call
                  -> ok max_abs=E rel_l2=E nonfinite=K worst=NAME[i,j,k] expected=X got=Y dtype=DTYPE
  quit            exit 0 (so does the end of standard input)

Failures of the task's own code (task.toml, the instance file, a bad shape, an oracle producing
non-finite outputs) answer `task-error MESSAGE` and exit 3; Kiln's own failures (bad arguments, a
missing module, a bug here) answer `error MESSAGE`. A call that leaves the GPU unusable answers
`raised ...` and the driver exits (status 6). Replies are single lines; parsers should ignore
key=value fields they do not know.

For --role candidate the driver also enforces the rules of kiln_rules.py: a static check before the
implementation is imported (a failure answers the first setup with `violation static: REASON (line
N)`, and every later command the same), restricted builtins, and a run-time ban on torch ops other
than allocation, views and shape queries during its body and every call. For every role it checks
that the call wrote into the given outputs (a tensor replaced or resized, a value returned, or a
write into the guard bytes around any buffer is a violation). See docs/BACKENDS.md for what these
checks can and cannot guarantee.
"""

import os
import sys

sys.dont_write_bytecode = True
# The protocol's own descriptors, before anything else can print or read.
PROTOCOL_OUT = os.dup(1)
PROTOCOL_IN = os.dup(0)
os.dup2(2, 1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)

import builtins  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import linecache  # noqa: E402
import math  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
import types  # noqa: E402

PROTOCOL_VERSION = 1
MAX_LINE = 4096
MAX_CHECK_BYTES = 1 << 34
# 2: an `error` at start-up (bad usage, a missing module or file, no GPU); 3: a task error; 4: the protocol's
# stream broke (a write failed, a line or payload out of bounds); 5: after a timeout; 6: the GPU is unusable.
EXIT_USAGE, EXIT_TASK, EXIT_IO, EXIT_TIMEOUT, EXIT_DEVICE = 2, 3, 4, 5, 6
L2_FLUSH_BYTES = 256 << 20
PERTURB_SALT = 0x7065727475726221

_write_lock = threading.Lock()


def reply(line: str) -> None:
    data = (line.replace("\r", " ").replace("\n", " ") + "\n").encode("utf-8", "replace")
    with _write_lock:
        _write_all(data)


def _write_all(data) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(PROTOCOL_OUT, view)
        except InterruptedError:
            continue
        except OSError:
            os._exit(EXIT_IO)
        view = view[n:]


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, at most `limit` characters. A message of several lines (Triton's compile errors
    quote the kernel's source first and give the cause last) keeps its first and last lines."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if len(lines) > 2:
        lines = [lines[0], "...", lines[-1]]
    text = " ".join(" ".join(lines).split())
    if len(text) <= limit:
        return text
    if len(lines) == 3:  # keep the cause: the end
        return "..." + text[-(limit - 3):]
    return text[: limit - 3] + "..."


def task_error(message: str):
    reply(f"task-error {one_line(message, 800)}")
    print(f"kiln task error: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_TASK)


def fatal_error(message: str, status: int = EXIT_USAGE):
    reply(f"error {one_line(message, 800)}")
    print(f"kiln driver error: {message}", file=sys.stderr, flush=True)
    os._exit(status)


# ---------------------------------------------------------------------------------------------
# Arguments


OPTIONS = {"--role", "--task", "--implementation", "--shape", "--tunables", "--device", "--log", "--cache"}


def parse_arguments(argv):
    values = {}
    i = 0
    while i < len(argv):
        key = argv[i]
        if key not in OPTIONS or i + 1 >= len(argv):
            fatal_error(f"usage: unknown option or missing value at '{key}' (options: {', '.join(sorted(OPTIONS))})")
        values[key[2:]] = argv[i + 1]
        i += 2
    for required in ("role", "task", "implementation", "shape"):
        if required not in values:
            fatal_error(f"usage: --{required} is required")
    if values["role"] not in ("oracle", "baseline", "candidate"):
        fatal_error(f"usage: --role must be oracle, baseline or candidate, not '{values['role']}'")
    if values.get("device", "cuda") not in ("cuda", "cpu"):
        fatal_error(f"usage: --device must be cuda or cpu, not '{values['device']}'")
    return values


# ---------------------------------------------------------------------------------------------
# The watchdog: answers `timeout` and ends the process when a deadline passes, whatever the main
# thread is doing (a Python loop, a sleep, a wait for the GPU; not a C call holding the GIL, which
# only Kiln's kill from outside can end).


class Watchdog:
    def __init__(self):
        self._condition = threading.Condition()
        self._deadline = None
        self._started = 0
        self._fired = False
        threading.Thread(target=self._run, name="kiln-watchdog", daemon=True).start()

    def arm(self, seconds: float, started_ns: int) -> None:
        with self._condition:
            self._deadline = time.monotonic() + seconds
            self._started = started_ns
            self._condition.notify()

    def disarm(self) -> None:
        with self._condition:
            if self._fired:  # the watchdog is ending the process: never answer twice
                while True:
                    self._condition.wait()
            self._deadline = None

    def _run(self):
        with self._condition:
            while True:
                if self._deadline is None:
                    self._condition.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._condition.wait(min(left, 1.0))
                    continue
                self._fired = True
                reply(f"timeout ns={time.perf_counter_ns() - self._started}")
                os._exit(EXIT_TIMEOUT)


# ---------------------------------------------------------------------------------------------
# The driver


class Driver:
    def __init__(self, arguments):
        self.role = arguments["role"]
        self.task_dir = arguments["task"]
        self.implementation_path = arguments["implementation"]
        self.shape_spec = arguments["shape"]
        self.tunable_spec = arguments.get("tunables")
        self.fatal = None          # a failure that answers every later command (static violation, import)
        self.loaded = False
        self.entry = None
        self.snapshot = None       # the outputs as the last call left them: [(buffer, cpu tensor)]
        self.set_up = False
        self.called_since_setup = False  # whether in-place buffers may differ from their setup's values
        self.watchdog = Watchdog()

    # -- start-up

    def start(self, device_choice):
        import kiln_task  # noqa: F401 (instance files import it)

        self.kiln_task = kiln_task
        import kiln_rules

        self.rules = kiln_rules
        self._load_task()
        self._select_device(device_choice)
        self._read_implementation()
        self._load_instance()
        self.problem = kiln_task.Problem(self.device)
        self.scratch = None
        if self.is_cuda:
            self.scratch = self.torch.empty(L2_FLUSH_BYTES, dtype=self.torch.uint8, device=self.device)
        timing = "device" if self.is_cuda else "none"
        device_name = f"cuda:{self.device.index or 0}" if self.is_cuda else "cpu-interpreter"
        reply(f"ready backend=triton device={device_name} timing={timing} torch={self.torch.__version__} "
              f"triton={self.triton.__version__}")

    def _load_task(self):
        path = os.path.join(self.task_dir, "task.toml")
        try:
            with open(path, "rb") as f:
                self.task = tomllib.load(f)
        except FileNotFoundError:
            task_error(f"{path} does not exist")
        except (OSError, tomllib.TOMLDecodeError) as error:
            task_error(f"{path}: {error}")
        self.entry_point = self.task.get("entry_point")
        if not isinstance(self.entry_point, str) or not self.entry_point.isidentifier():
            task_error(f"{path}: entry_point must name a Python function")
        limits = self.task.get("limits", {})
        self.call_timeout = float(limits.get("call_timeout", 60.0))
        python = self.task.get("python", {})
        self.allowed_imports = tuple(python.get("imports", None) or ())
        torch_table = self.task.get("torch", {})
        self.torch_allowed = tuple(torch_table.get("allowed", None) or ())

    def _select_device(self, choice):
        if choice == "cpu":
            os.environ["TRITON_INTERPRET"] = "1"
        try:
            import torch
        except Exception as error:  # noqa: BLE001
            fatal_error(f"cannot import torch: {type(error).__name__}: {error}")
        if choice is None:
            choice = "cuda" if torch.cuda.is_available() else "cpu"
            if choice == "cpu":
                os.environ["TRITON_INTERPRET"] = "1"
        if choice == "cuda" and not torch.cuda.is_available():
            fatal_error("--device cuda, but torch sees no GPU (torch.cuda.is_available() is false)")
        try:
            import triton
            import triton.language  # noqa: F401
        except Exception as error:  # noqa: BLE001
            fatal_error(f"cannot import triton: {type(error).__name__}: {error}")
        self.torch, self.triton = torch, triton
        self.is_cuda = choice == "cuda"
        if self.is_cuda:
            torch.cuda.set_device(0)
            self.device = torch.device("cuda", 0)
        else:
            self.device = torch.device("cpu")
            import kiln_interpreter

            fixes = kiln_interpreter.apply() if os.environ.get("KILN_INTERPRETER_FIXES", "1") != "0" else []
            if fixes:
                print(f"kiln: corrected Triton's interpreter: {', '.join(fixes)}", file=sys.stderr, flush=True)

    def _read_implementation(self):
        path = self.implementation_path
        try:
            with open(path, encoding="utf-8") as f:
                self.source = f.read()
        except (OSError, UnicodeDecodeError) as error:
            fatal_error(f"cannot read the implementation {path}: {error}")
        rules = self.rules
        trusted = self.role != "candidate"
        try:
            defaults, _ = rules.parse_tunables(self.source)
        except rules.StaticViolation as violation:
            if trusted:
                task_error(f"{path}: {violation}")
            self.fatal = f"violation static: {violation}"
            defaults = {}
        try:
            given = rules.parse_assignments(self.tunable_spec)
        except ValueError as error:
            fatal_error(f"usage: --tunables: {error}")
        unknown = sorted(set(given) - set(defaults))
        if unknown and self.fatal is None:
            declared = ", ".join(sorted(defaults)) or "none"
            fatal_error(f"usage: --tunables names {', '.join(unknown)}, which the implementation does not declare "
                        f"(declared: {declared})")
        self.tunables = {**defaults, **given}
        if trusted or self.fatal is not None:
            return
        expected = None
        signature = self.task.get("signature")
        if signature:
            try:
                with open(os.path.join(self.task_dir, signature), encoding="utf-8") as f:
                    expected = rules.signature_parameters(f.read(), self.entry_point)
            except (OSError, SyntaxError) as error:
                task_error(f"signature file {signature}: {error}")
            if expected is None:
                task_error(f"signature file {signature} does not define {self.entry_point}()")
        try:
            rules.static_check(self.source, path, self.entry_point, expected,
                               imports=self.allowed_imports or rules.DEFAULT_IMPORTS,
                               torch_allowed=self.torch_allowed or rules.DEFAULT_TORCH_ALLOWED,
                               tunables=self.tunables)
        except rules.StaticViolation as violation:
            self.fatal = f"violation static: {one_line(violation, 600)}"

    def _load_instance(self):
        name = self.task.get("instance")
        if not isinstance(name, str):
            task_error("task.toml: instance must name the instance file")
        path = os.path.join(self.task_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            module = types.ModuleType("kiln_instance")
            module.__file__ = path
            sys.modules["kiln_instance"] = module
            exec(compile(source, path, "exec", dont_inherit=True), module.__dict__)
        except self.kiln_task.TaskError as error:
            task_error(str(error))
        except BaseException as error:  # noqa: BLE001 (the task's code: any failure is the task's)
            task_error(f"the instance file {name} failed to load: {type(error).__name__}: {error}")
        setup = module.__dict__.get("setup")
        if not callable(setup):
            task_error(f"the instance file {name} does not define setup(shape, seed, problem)")
        self.instance_setup = setup
        try:
            self.shape = self.kiln_task.parse_shape(self.shape_spec)
        except self.kiln_task.TaskError as error:
            task_error(str(error))

    # -- the implementation

    def _ban(self):
        if self.role != "candidate":
            return contextlib.nullcontext(None)
        return self.rules.runtime_ban(interpreter_allowed=not self.is_cuda)

    def _load_implementation(self):
        """Runs the implementation's module body; on failure sets self.fatal (or exits on a timeout)."""
        path = self.implementation_path
        module = types.ModuleType("kiln_implementation")
        module.__file__ = path
        if self.role == "candidate":
            module.__dict__["__builtins__"] = self.rules.restricted_builtins()
        module.__dict__.update(self.tunables)
        sys.modules["kiln_implementation"] = module
        # Triton reads kernels' source through linecache: keep it there whatever happens to the file.
        linecache.cache[path] = (len(self.source), None, self.source.splitlines(True), path)
        try:
            code = compile(self.source, path, "exec", dont_inherit=True)
        except SyntaxError as error:
            self.fatal = f"raised SyntaxError: {one_line(error)}"
            return
        ban = self._ban()
        self.watchdog.arm(self.call_timeout, time.perf_counter_ns())
        try:
            with ban:
                exec(code, module.__dict__)
        except BaseException as error:  # noqa: BLE001
            self.fatal = self._failure(ban, error)
        finally:
            self.watchdog.disarm()
        self.loaded = True
        if self.fatal is None and ban is not None and getattr(ban, "violation", None):
            self.fatal = f"violation {ban.violation}"
        if self.fatal is None:
            entry = module.__dict__.get(self.entry_point)
            if not callable(entry):
                self.fatal = f"violation the implementation does not define {self.entry_point}()"
            self.entry = entry

    def _failure(self, ban, error):
        violation = getattr(ban, "violation", None)
        if violation:
            return f"violation {violation}"
        return f"raised {type(error).__name__}: {one_line(error)}"

    # -- commands

    def command_setup(self, arguments):
        words = arguments.split()
        try:
            seed = int(words[0])
            perturbation = int(words[1]) if len(words) > 1 else 0
            if len(words) > 2 or not (0 <= seed < 1 << 64 and 0 <= perturbation < 1 << 64):
                raise ValueError
        except (ValueError, IndexError):
            reply(f"error setup takes SEED [P] (integers in 0..2^64-1), not '{one_line(arguments, 80)}'")
            return
        if self.fatal:
            reply(self.fatal)
            return
        if not self.loaded:
            self._load_implementation()
            if self.fatal:
                reply(self.fatal)
                return
        self.snapshot = None
        problem = self.problem
        problem.begin()
        try:
            self.instance_setup(self.shape, seed, problem)
            problem.finish()
        except self.kiln_task.TaskError as error:
            task_error(str(error))
        except BaseException as error:  # noqa: BLE001
            task_error(f"the instance file's setup() raised {type(error).__name__}: {error}")
        if perturbation:
            self._perturb(perturbation)
        for b in problem.outputs:
            if b.role == "inout":
                b.keep_pristine()
        self.called_since_setup = False
        if self.is_cuda:
            self.torch.cuda.synchronize()
        self.set_up = True
        outputs = sum(b.nbytes for b in problem.outputs)
        reply(f"ok inputs={self._hash_inputs()} outputs={outputs} flops={problem.flops:.17g} "
              f"bytes={problem.bytes:.17g}")

    def _perturb(self, perturbation):
        torch = self.torch
        g = torch.Generator(device="cpu")
        g.manual_seed((perturbation ^ PERTURB_SALT) & 0xFFFF_FFFF_FFFF_FFFF)
        for b in self.problem.filled:
            if not b.dtype.is_floating_point or b.numel == 0:
                continue
            picks = torch.randint(0, b.numel, (b.numel // 64 + 1,), generator=g)
            picks = torch.unique(picks)  # sorted, each once: deterministic on every device
            factors = 0.5 + torch.rand(picks.numel(), generator=g, dtype=torch.float64)
            flat = b.tensor.view(-1)
            picks = picks.to(self.device)
            flat[picks] = (flat[picks].to(torch.float64) * factors.to(self.device)).to(b.dtype)

    def _tensor_bytes(self, tensor):
        t = tensor.detach().contiguous().cpu()
        n = t.numel() * t.element_size()
        if n == 0:
            return t, b""
        return t, (ctypes.c_char * n).from_address(t.data_ptr())

    def _hash_inputs(self):
        h = hashlib.blake2b(digest_size=8)
        for b in self.problem.inputs:
            h.update(f"{b.name}:{self.kiln_task.DTYPE_NAMES[b.dtype]}:{b.shape};".encode())
            keep, data = self._tensor_bytes(b.tensor)
            h.update(data)
            del keep
        return h.hexdigest()

    def command_call(self, arguments):
        if self.fatal:
            reply(self.fatal)
            return
        if not self.set_up:
            reply("error call before setup")
            return
        try:
            timeout_ms = int(arguments.strip() or "0")
        except ValueError:
            reply(f"error call takes a deadline in ms, not '{one_line(arguments, 80)}'")
            return
        if timeout_ms <= 0:
            timeout_ms = 60000
        torch = self.torch
        problem = self.problem
        for b in problem.outputs:
            if b.role != "inout":
                b.poison()
            elif self.called_since_setup:  # Kiln's own evaluations set up before every call: nothing to undo
                b.restore()
        self.called_since_setup = True
        arguments_ = problem.call_arguments
        ban = self._ban()
        error = None
        result = None
        start_event = end_event = None
        if self.is_cuda:
            self.scratch.zero_()
            start_event = torch.cuda.Event(enable_timing=True)
            end_event = torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
        started = time.perf_counter_ns()
        self.watchdog.arm(timeout_ms / 1000.0, started)
        try:
            with ban:  # the events go inside: entering and leaving the ban's dispatch mode is not the call's time
                if self.is_cuda:
                    start_event.record()
                result = self.entry(*arguments_)
                if self.is_cuda:
                    end_event.record()
            if self.is_cuda:
                torch.cuda.synchronize()
        except BaseException as raised:  # noqa: BLE001 (the implementation's failure is a result)
            error = raised
            if self.is_cuda:
                with contextlib.suppress(BaseException):
                    torch.cuda.synchronize()
        wall = time.perf_counter_ns() - started
        self.watchdog.disarm()
        self._after_call(ban, error, result, wall, start_event, end_event)

    def _after_call(self, ban, error, result, wall, start_event, end_event):
        problem = self.problem
        if self.is_cuda and error is not None and not self._device_usable():
            reply(f"raised {type(error).__name__}: {one_line(error)} (the GPU is unusable after this call; the "
                  "driver exits)")
            os._exit(EXIT_DEVICE)
        violation = getattr(ban, "violation", None)
        replaced = [b for b in problem.buffers if b.replaced()]
        damaged = [(b, b.guard_damage()) for b in problem.buffers if not b.replaced()]
        damaged = [(b, side) for b, side in damaged if side]
        for b in replaced:  # a buffer whose tensor was redirected is not reused: the next setup makes a new one
            problem._buffers.pop(b.name, None)
        if replaced:
            self.set_up = False
        for b, _ in damaged:
            b.reset_guards()
        self.snapshot = [(b, b.tensor.detach().to("cpu", copy=True)) for b in problem.outputs if b not in replaced]
        if violation:
            reply(f"violation {violation}")
        elif error is not None:
            reply(f"raised {type(error).__name__}: {one_line(error)}")
        elif replaced:
            reply(f"violation the call replaced or resized {replaced[0].name} (its storage, shape or strides "
                  "changed): write into the given tensors")
        elif result is not None:
            reply(f"violation {self.entry_point}() returned a {type(result).__name__}; it must write its outputs "
                  "into the given tensors and return None")
        elif damaged:
            b, side = damaged[0]
            reply(f"violation the call wrote outside {b.name} (into the {self.kiln_task.GUARD_BYTES} bytes "
                  f"{side} it)")
        else:
            ns = int(round(start_event.elapsed_time(end_event) * 1e6)) if self.is_cuda else wall
            reply(f"ok ns={ns} inputs={self._hash_inputs()}")

    def _device_usable(self):
        try:
            self.torch.cuda.synchronize()
            self.torch.empty(1, device=self.device).fill_(0).cpu()
            return True
        except BaseException:  # noqa: BLE001
            return False

    def _snapshot_bytes(self):
        parts = []
        for _, cpu in self.snapshot:
            keep, data = self._tensor_bytes(cpu)
            parts.append(bytes(data))
            del keep
        return b"".join(parts)

    def command_out(self):
        if self.snapshot is None:
            reply("error out before a call")
            return
        data = self._snapshot_bytes()
        with _write_lock:
            _write_all(f"ok bytes={len(data)}\n".encode())
            _write_all(data)

    def command_check(self, payload):
        if self.snapshot is None:
            reply("error check before a call")
            return
        torch = self.torch
        expected_size = sum(b.nbytes for b, _ in self.snapshot)
        if len(payload) != expected_size:
            reply(f"error outputs of {len(payload)} bytes, expected {expected_size}")
            return
        max_abs = 0.0
        err2 = ref2 = 0.0
        nonfinite = 0
        worst = None  # (diff, buffer, flat index, expected, got)
        offset = 0
        for b, mine in self.snapshot:
            n = b.nbytes
            if n == 0:
                continue
            got = torch.frombuffer(payload, dtype=torch.uint8, count=n, offset=offset).view(b.dtype)
            offset += n
            got = got.to(torch.float64)
            expected = mine.reshape(-1).to(torch.float64)
            finite_expected = torch.isfinite(expected)
            if not bool(finite_expected.all()):
                i = int((~finite_expected).nonzero()[0])
                task_error(f"the oracle produced a non-finite {b.name}[{_coordinates(i, b.shape)}]")
            finite = torch.isfinite(got)
            count = int((~finite).sum())
            nonfinite += count
            delta = got - expected
            diff = delta.abs()
            if count:
                diff = torch.where(finite, diff, torch.full_like(diff, math.inf))
            err2 += float((torch.where(finite, delta, torch.zeros_like(delta)) ** 2).sum())
            ref2 += float((expected ** 2).sum())
            i = int(torch.argmax(diff))
            d = float(diff[i])
            if worst is None or d > worst[0]:
                worst = (d, b, i, float(expected[i]), float(got[i]))
            max_abs = max(max_abs, d)
        rel_l2 = math.inf if nonfinite else math.sqrt(err2 / max(ref2, 1e-300))
        if worst is None:
            where, e, g = "-[]", 0.0, 0.0
        else:
            where, e, g = f"{worst[1].name}[{_coordinates(worst[2], worst[1].shape)}]", worst[3], worst[4]
        reply(f"ok max_abs={max_abs:.6g} rel_l2={rel_l2:.6g} nonfinite={nonfinite} worst={where} "
              f"expected={e:.9g} got={g:.9g} dtype={self._outputs_dtype()}")

    def _outputs_dtype(self):
        order = ["bfloat16", "float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64"]
        names = {self.kiln_task.DTYPE_NAMES[b.dtype] for b, _ in self.snapshot}
        return min(names, key=order.index) if names else "none"


def _coordinates(flat: int, shape) -> str:
    if not shape:
        return ""
    out = []
    for n in reversed(shape):
        flat, r = divmod(flat, n) if n else (flat, 0)
        out.append(r)
    return ",".join(str(i) for i in reversed(out))


# ---------------------------------------------------------------------------------------------
# The command loop: linear and bounded (a line is at most MAX_LINE bytes, a payload MAX_CHECK_BYTES)


def serve(driver: Driver):
    reader = io.BufferedReader(io.FileIO(PROTOCOL_IN, "rb", closefd=False), buffer_size=1 << 16)
    while True:
        raw = reader.readline(MAX_LINE + 1)
        if not raw:
            return
        if not raw.endswith(b"\n"):
            if len(raw) > MAX_LINE:
                fatal_error(f"a command line longer than {MAX_LINE} bytes", EXIT_IO)
            return  # the end of input in the middle of a line
        line = raw[:-1].decode("utf-8", "replace").rstrip("\r")
        command, _, rest = line.partition(" ")
        try:
            if command == "setup":
                driver.command_setup(rest)
            elif command == "call":
                driver.command_call(rest)
            elif command == "out" and not rest:
                driver.command_out()
            elif command == "check":
                try:
                    size = int(rest)
                except ValueError:
                    fatal_error(f"check takes a byte count, not '{one_line(rest, 80)}'", EXIT_IO)
                if not 0 <= size <= MAX_CHECK_BYTES:
                    fatal_error(f"check of {size} bytes", EXIT_IO)
                payload = _read_exact(reader, size)
                if payload is None:
                    return
                driver.command_check(payload)
            elif command == "quit":
                return
            else:
                reply(f"error unknown command '{one_line(line, 80)}'")
        except SystemExit:
            raise
        except BaseException as error:  # noqa: BLE001 (a fault of Kiln's driver, not of the implementation)
            reply(f"error driver: {type(error).__name__}: {one_line(error)}")
            import traceback

            traceback.print_exc()


def _read_exact(reader, size):
    payload = bytearray(size)
    view = memoryview(payload)
    got = 0
    while got < size:
        n = reader.readinto(view[got:])
        if not n:
            return None
        got += n
    return payload


def main(argv):
    arguments = parse_arguments(argv)
    log = arguments.get("log")
    if log:
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        except OSError as error:
            fatal_error(f"cannot open the log {log}: {error}")
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    cache = arguments.get("cache")
    if cache:
        os.environ["TRITON_CACHE_DIR"] = cache
        os.environ.setdefault("TRITON_HOME", cache)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    driver = Driver(arguments)
    driver.start(arguments.get("device"))
    serve(driver)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
