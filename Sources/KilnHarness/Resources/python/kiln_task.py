"""kiln_task: the interface between Kiln's Triton driver and a task's instance file.

A Triton task folder owns one Python file (named by `instance` in task.toml) that turns a shape and a
seed into a problem instance. It defines one function:

    def setup(shape, seed, problem) -> None

and nothing else is called. `shape` is a `Shape` (a dict of the shape's parameters, with typed
accessors that stop with a task error naming the key), `seed` an int in 0..2**64-1, and `problem` a
`Problem`, this module's small API:

    g = problem.generator(seed)          # a CPU torch.Generator seeded from the seed
    q = problem.input("q", tensor)       # declare an input: a CPU tensor made from `g`; returns the
                                         # driver's tensor on problem.device holding the same values
    o = problem.output("o", (T, H), torch.float16)   # declare an output, allocated by the driver
    r = problem.inout("residual", tensor)  # declare an in-place buffer (read and written by the call): made
                                         # like an input, put back to these values before every call,
                                         # compared with the oracle's after it like an output
    problem.work(flops=F, bytes=B)       # the useful work and the minimum traffic of one call
    problem.arguments(q, o, 0.125)       # the entry point's positional arguments: declared tensors
                                         # and Python scalars (int, float, bool)
    problem.fail("why")                  # stop with a task error: a shape the file cannot build

Rules, which the driver relies on:
- Inputs depend only on (shape, seed): make every tensor on the CPU from `problem.generator(seed)`
  (never from a clock, a global or the device's generator) and hand it to `problem.input`; the
  oracle's, the baseline's and the candidate's drivers each build the instance and Kiln checks that
  their input hashes agree, whatever the device.
- Declare the same buffers, with the same shapes and dtypes, on every setup of one shape: the driver
  then copies each new instance into the previous instance's tensors (same storage, same pointers),
  so that an implementation caching answers keyed on pointers answers stale.
- Buffers are reported (hashed, shipped, compared) in declaration order.
- The driver owns every tensor: it allocates each one with guard bytes on both sides (writes outside
  a tensor are detected), fills outputs with NaN (integers: -1) and puts in-place buffers back to the
  setup's values before every call, and hashes the inputs (not the in-place buffers) after it.

Everything kernel-specific lives in the task folder; the driver knows nothing of any kernel.
"""

from __future__ import annotations

import torch

__all__ = ["TaskError", "Shape", "Problem", "parse_shape", "DTYPES"]

# Dtypes a buffer may have, by the names task.toml and the protocol use.
DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int32": torch.int32,
    "int64": torch.int64,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}

# Bytes of padding on each side of every buffer, filled with GUARD_BYTE and checked after each call.
GUARD_BYTES = 65536
GUARD_BYTE = 0xA5


class TaskError(Exception):
    """The task's own code cannot build this instance (a bad shape, a bug in the instance file)."""


def dtype_of(value) -> torch.dtype:
    """A torch dtype from a dtype or its name ('float16', 'bfloat16', ...)."""
    if isinstance(value, torch.dtype):
        if value not in DTYPE_NAMES:
            raise TaskError(f"dtype {value} is not supported (supported: {', '.join(DTYPES)})")
        return value
    if isinstance(value, str) and value in DTYPES:
        return DTYPES[value]
    raise TaskError(f"unknown dtype {value!r} (supported: {', '.join(DTYPES)})")


def _parse_scalar(text: str):
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_shape(spec: str) -> "Shape":
    """Parses 'name=prefill;batch=1;prefix=0,5;dtype=float16' into a Shape.

    Values are ints when they parse as ints, then floats, else strings; a value with commas is a list.
    """
    shape = Shape()
    for item in spec.split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise TaskError(f"shape parameter {item!r} has no '='")
        if key in shape:
            raise TaskError(f"shape parameter {key!r} is given twice")
        if "," in value:
            shape[key] = [_parse_scalar(v) for v in value.split(",")]
        else:
            shape[key] = _parse_scalar(value)
    return shape


class Shape(dict):
    """One shape's parameters (a dict), with accessors that stop with a task error naming the key."""

    @property
    def name(self) -> str:
        return str(self.get("name", ""))

    def _value(self, key):
        if key not in self:
            raise TaskError(f"shape '{self.name}' lacks the parameter '{key}'")
        return self[key]

    def int(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._value(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TaskError(f"shape '{self.name}': {key} = {value!r} is not an integer")
        _check_range(self.name, key, value, minimum, maximum)
        return value

    def float(self, key: str, default: float | None = None) -> float:
        if key not in self and default is not None:
            return default
        value = self._value(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TaskError(f"shape '{self.name}': {key} = {value!r} is not a number")
        return float(value)

    def ints(self, key: str, count: int | None = None, minimum: int | None = None,
             maximum: int | None = None) -> list[int]:
        value = self._value(key)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TaskError(f"shape '{self.name}': {key} = {value!r} is not a list of integers")
        if count is not None and len(values) != count:
            raise TaskError(f"shape '{self.name}': {key} has {len(values)} entries but {count} are needed")
        for i, v in enumerate(values):
            _check_range(self.name, f"{key}[{i}]", v, minimum, maximum)
        return list(values)

    def str(self, key: str, default: str | None = None) -> str:
        if key not in self and default is not None:
            return default
        value = self._value(key)
        if not isinstance(value, str):
            raise TaskError(f"shape '{self.name}': {key} = {value!r} is not a word")
        return value

    def dtype(self, key: str = "dtype", default: str | None = None) -> torch.dtype:
        name = self.str(key, default)
        if name not in DTYPES:
            raise TaskError(f"shape '{self.name}': {key} = {name!r} is not a dtype ({', '.join(DTYPES)})")
        return DTYPES[name]


def _check_range(shape_name, key, value, minimum, maximum):
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise TaskError(f"shape '{shape_name}': {key} = {value} must be in {low}..{high}")


class Buffer:
    """One tensor the driver owns: a view into a byte buffer with guard bytes on both sides."""

    def __init__(self, name: str, role: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
        self.name, self.role, self.shape, self.dtype = name, role, tuple(shape), dtype
        self.numel = 1
        for n in self.shape:
            self.numel *= n
        self.nbytes = self.numel * _element_size(dtype)
        self.raw = torch.full((GUARD_BYTES * 2 + self.nbytes,), GUARD_BYTE, dtype=torch.uint8, device=device)
        self.tensor = self.raw[GUARD_BYTES:GUARD_BYTES + self.nbytes].view(dtype).view(self.shape)
        self.identity = self._identity()

    def matches(self, role, shape, dtype) -> bool:
        return self.role == role and self.shape == tuple(shape) and self.dtype == dtype

    def _identity(self):
        t = self.tensor
        return (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype, t.device,
                t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())

    def replaced(self) -> bool:
        """Whether the tensor's storage, shape, strides or dtype changed (set_, resize_, .data = ...)."""
        return self._identity() != self.identity

    def guard_damage(self) -> str | None:
        """Which guard was written, if any: 'before' or 'after'."""
        before = self.raw[:GUARD_BYTES]
        after = self.raw[GUARD_BYTES + self.nbytes:]
        if bool((before != GUARD_BYTE).any()):
            return "before"
        if bool((after != GUARD_BYTE).any()):
            return "after"
        return None

    def reset_guards(self):
        self.raw[:GUARD_BYTES].fill_(GUARD_BYTE)
        self.raw[GUARD_BYTES + self.nbytes:].fill_(GUARD_BYTE)

    def keep_pristine(self):
        """An in-place buffer: keeps its values as the setup (and its perturbation) left them."""
        self.pristine = self.tensor.detach().clone()

    def restore(self):
        """An in-place buffer: back to the values its setup left."""
        self.tensor.copy_(self.pristine)

    def poison(self):
        """An output: NaN (integers: -1), so that what a call does not write fails the check."""
        if self.dtype.is_floating_point:
            self.tensor.fill_(float("nan"))
        else:
            self.tensor.fill_(-1)


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


class Problem:
    """The instance API an instance file's setup() uses (see the module's docstring)."""

    def __init__(self, device: torch.device):
        self.device = device
        self._buffers: dict[str, Buffer] = {}  # kept across setups: storage is reused
        self._declared: list[Buffer] = []
        self._arguments: tuple | None = None
        self.flops = 0.0
        self.bytes = 0.0

    # -- the instance file's API ---------------------------------------------------------------------

    def generator(self, seed: int) -> torch.Generator:
        """A CPU generator seeded from `seed`: make every input from it, on the CPU."""
        g = torch.Generator(device="cpu")
        g.manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        return g

    def input(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """Declares an input with `tensor`'s values; returns the driver's tensor on the device."""
        if not isinstance(tensor, torch.Tensor):
            raise TaskError(f"input '{name}' is a {type(tensor).__name__}, not a tensor")
        buffer = self._declare(name, "input", tuple(tensor.shape), dtype_of(tensor.dtype))
        buffer.tensor.copy_(tensor)
        return buffer.tensor

    def inout(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """Declares an in-place buffer with `tensor`'s values (made like an input's); returns the driver's
        tensor on the device. The call updates it; it is compared with the oracle's after the call."""
        if not isinstance(tensor, torch.Tensor):
            raise TaskError(f"in-place buffer '{name}' is a {type(tensor).__name__}, not a tensor")
        buffer = self._declare(name, "inout", tuple(tensor.shape), dtype_of(tensor.dtype))
        buffer.tensor.copy_(tensor)
        return buffer.tensor

    def output(self, name: str, shape, dtype) -> torch.Tensor:
        """Declares an output of `shape` and `dtype` (a torch dtype or its name), allocated by the driver."""
        shape = tuple(int(n) for n in shape)
        buffer = self._declare(name, "output", shape, dtype_of(dtype))
        return buffer.tensor

    def work(self, flops: float = 0.0, bytes: float = 0.0) -> None:  # noqa: A002 (the protocol's word)
        """The useful floating-point operations and the minimum bytes moved by one call."""
        self.flops, self.bytes = float(flops), float(bytes)

    def arguments(self, *arguments) -> None:
        """The entry point's positional arguments: declared tensors and Python scalars."""
        declared = {id(b.tensor) for b in self._declared}
        for i, a in enumerate(arguments):
            if isinstance(a, torch.Tensor):
                if id(a) not in declared:
                    raise TaskError(f"argument {i} is a tensor that was not declared with problem.input, inout "
                                    "or output (pass the tensor those return)")
            elif not isinstance(a, (bool, int, float)):
                raise TaskError(f"argument {i} is a {type(a).__name__}: only declared tensors and int, float "
                                "or bool scalars may be passed")
        self._arguments = tuple(arguments)

    def fail(self, message: str):
        """Stops with a task error: for shapes the instance file cannot build."""
        raise TaskError(str(message))

    # -- the driver's side ---------------------------------------------------------------------------

    def begin(self) -> None:
        self._declared = []
        self._arguments = None
        self.flops = self.bytes = 0.0

    def finish(self) -> None:
        if self._arguments is None:
            raise TaskError("the instance file's setup() did not call problem.arguments(...)")
        if not self.outputs:
            raise TaskError("the instance declared no output (problem.output or problem.inout)")

    def _declare(self, name: str, role: str, shape, dtype) -> Buffer:
        if not isinstance(name, str) or not name.isidentifier():
            raise TaskError(f"buffer name {name!r} must be an identifier")
        if any(b.name == name for b in self._declared):
            raise TaskError(f"buffer '{name}' is declared twice")
        if any(n < 0 for n in shape):
            raise TaskError(f"buffer '{name}' has a negative dimension: {shape}")
        buffer = self._buffers.get(name)
        if buffer is None or not buffer.matches(role, shape, dtype):
            buffer = Buffer(name, role, shape, dtype, self.device)
            self._buffers[name] = buffer
        self._declared.append(buffer)
        return buffer

    @property
    def buffers(self) -> list[Buffer]:
        return list(self._declared)

    @property
    def inputs(self) -> list[Buffer]:
        return [b for b in self._declared if b.role == "input"]

    @property
    def outputs(self) -> list[Buffer]:
        """What the call's result is read from, in declaration order: outputs and in-place buffers."""
        return [b for b in self._declared if b.role in ("output", "inout")]

    @property
    def filled(self) -> list[Buffer]:
        """What the setup fills with values: inputs and in-place buffers."""
        return [b for b in self._declared if b.role in ("input", "inout")]

    @property
    def call_arguments(self) -> tuple:
        return self._arguments or ()
