"""kiln_rules: what a Triton candidate may do, checked before it is imported and while it runs.

Three layers, all in the candidate's own process (so all best effort against a candidate that finds
a way around them; see docs/BACKENDS.md for what holds regardless):

1. `static_check(source, ...)`: an `ast` pass before the candidate is imported. Imports only of the
   allowed modules (task.toml `[python] imports`, default DEFAULT_IMPORTS); every attribute path from
   an imported module is resolved against the real module and may not reach another module (so no
   `torch.nn.functional`, `torch.ops`, `tl.core.inspect`, `dataclasses.sys`); `torch.<name>` only for
   names in `[torch] allowed`, dtypes and the types `Tensor`, `Size`, `device`, `dtype`; `triton.<name>`
   only for TRITON_ATTRIBUTES; no private (`_x`) attribute of a module, no dunder attribute anywhere, no
   frame or traceback attributes, no `.numpy()` / `.tolist()` / `.item()` / storages; no name that the
   module never binds unless it is a builtin, and none of FORBIDDEN_BUILTINS (`getattr`, `eval`,
   `exec`, `open`, `__import__`, ...) unless the module defines it; no star or relative imports; the
   entry point defined at module level with the signature file's parameters.
2. `restricted_builtins()`: the builtins the candidate's module runs with: FORBIDDEN_BUILTINS removed
   (`__import__` is kept: see its docstring).
3. `RuntimeBan`: a TorchDispatchMode active during the candidate's module body and each call. Any aten
   op that is not an allocation, a view or a shape query (ALLOWED_OPS) is recorded as a violation (the
   first one is kept, so a candidate catching the exception still fails) and raised. Triton kernel
   launches do not pass through the dispatcher. On the CPU interpreter (device cpu only), Triton's
   interpreter itself wraps every tensor argument with `new_empty(0).set_(storage, ...)` before a
   launch and copies each argument's storage onto itself after it (`copy_` with source and destination
   in the same storage); exactly those two ops are allowed, and only when Triton's interpreter module
   is the caller.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import symtable
import sys
import types

DEFAULT_IMPORTS = ("torch", "triton", "triton.language", "math", "typing", "functools", "dataclasses")

# torch.<name> a candidate may reference when task.toml has no [torch] allowed.
DEFAULT_TORCH_ALLOWED = ("empty", "empty_like", "empty_strided", "zeros", "zeros_like", "full", "full_like",
                         "finfo", "iinfo")

# triton.<name> a candidate may reference (triton.language is checked on its own).
TRITON_ATTRIBUTES = frozenset({"jit", "cdiv", "next_power_of_2", "language", "heuristics", "Config", "constexpr"})

# Modules an attribute path may reach (beyond the imported roots): the kernel language's own.
ALLOWED_SUBMODULES = ("triton.language",)

FORBIDDEN_BUILTINS = frozenset({
    "getattr", "setattr", "delattr", "__import__", "eval", "exec", "compile", "open", "globals", "locals",
    "vars", "breakpoint", "help", "exit", "quit", "copyright", "credits", "license", "__loader__", "__spec__",
    "__builtins__",
})

FORBIDDEN_ATTRIBUTES = frozenset({
    # frames, code and tracebacks: the way back to the real builtins and the driver
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "func_globals",
    # host copies of tensor data and raw storage
    "numpy", "tolist", "item", "storage", "untyped_storage", "_storage",
})

FORBIDDEN_NAMES_MESSAGE = {
    "os": "the operating system", "sys": "the interpreter", "subprocess": "processes", "ctypes": "raw memory",
    "importlib": "imports", "builtins": "the builtins",
}

# aten ops a candidate may run: allocation, views and shape queries.
ALLOWED_OPS = frozenset({
    # allocation (and filling fresh scratch)
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros", "zeros_like", "new_zeros",
    "full", "full_like", "new_full", "ones", "ones_like", "new_ones", "zero_", "fill_", "scalar_tensor",
    # views
    "view", "_unsafe_view", "_reshape_alias", "reshape", "as_strided", "alias", "t", "transpose", "permute",
    "expand", "unsqueeze", "squeeze", "slice", "select", "narrow", "split", "split_with_sizes", "unbind",
    "unflatten", "detach", "diagonal", "unfold", "view_as", "lift_fresh", "chunk", "movedim", "flatten",
    # shape queries
    "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "size", "stride", "numel", "dim",
    "is_contiguous", "is_non_overlapping_and_dense", "is_same_size", "device", "layout",
})

_TUNABLE = re.compile(r"^\s*#\s*kiln:tunable\b(.*)$")


class StaticViolation(Exception):
    def __init__(self, reason: str, line: int | None):
        super().__init__(reason)
        self.reason, self.line = reason, line

    def __str__(self):
        return f"{self.reason} (line {self.line})" if self.line else self.reason


class ForbiddenOp(BaseException):
    """Raised inside a candidate for a forbidden torch op (a BaseException: `except Exception` misses it)."""


# ---------------------------------------------------------------------------------------------
# Tunables


def parse_tunables(source: str) -> tuple[dict[str, object], list[tuple[str, list[object], int]]]:
    """The `# kiln:tunable NAME DEFAULT ALT...` declarations: ({name: default}, [(name, values, line)]).

    Raises StaticViolation for a malformed or repeated declaration."""
    defaults: dict[str, object] = {}
    declared = []
    for number, line in enumerate(source.splitlines(), 1):
        match = _TUNABLE.match(line)
        if not match:
            continue
        words = match.group(1).split()
        if len(words) < 2 or not words[0].isidentifier():
            raise StaticViolation("malformed kiln:tunable line: write '# kiln:tunable NAME DEFAULT [ALTERNATIVES...]'",
                                  number)
        name = words[0]
        if name in defaults:
            raise StaticViolation(f"tunable {name} is declared twice", number)
        values = [parse_value(w) for w in words[1:]]
        defaults[name] = values[0]
        declared.append((name, values, number))
    return defaults, declared


def parse_value(text: str):
    """A tunable's or shape's value: an int, else a float, else the word itself."""
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_assignments(spec: str | None) -> dict[str, object]:
    """'BLOCK_M=64;BLOCK_N=32' -> {'BLOCK_M': 64, 'BLOCK_N': 32}."""
    out: dict[str, object] = {}
    for item in (spec or "").split(";"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise ValueError(f"tunable assignment {item!r} is not NAME=VALUE")
        out[key] = parse_value(value.strip())
    return out


# ---------------------------------------------------------------------------------------------
# The static check


def signature_parameters(source: str, entry_point: str) -> list[str] | None:
    """The parameter names of `entry_point` in a signature file (None when it does not define it)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return _parameters(node)
    return None


def _parameters(node: ast.FunctionDef) -> list[str]:
    a = node.args
    return [p.arg for p in a.posonlyargs + a.args]


def static_check(source: str, filename: str, entry_point: str, expected_parameters: list[str] | None,
                 imports=DEFAULT_IMPORTS, torch_allowed=DEFAULT_TORCH_ALLOWED, tunables=()) -> None:
    """Raises StaticViolation at the first rule the candidate's source breaks (see the module docstring)."""
    try:
        tree = ast.parse(source, filename)
        table = symtable.symtable(source, filename, "exec")
    except SyntaxError as error:
        raise StaticViolation(f"syntax error: {error.msg}", error.lineno) from None
    checker = _Checker(tree, imports, torch_allowed, tunables)
    checker.check_imports()
    checker.check_globals(table)
    checker.check_uses()
    entry = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_point]
    if not entry:
        raise StaticViolation(f"the candidate does not define {entry_point}() at module level", None)
    definition = entry[-1]
    if expected_parameters is not None:
        got = _parameters(definition)
        if got != expected_parameters:
            raise StaticViolation(f"{entry_point}({', '.join(got)}) does not match the signature "
                                  f"{entry_point}({', '.join(expected_parameters)})", definition.lineno)
    if definition.args.vararg or definition.args.kwonlyargs or definition.args.kwarg:
        raise StaticViolation(f"{entry_point} may take only the signature's positional parameters",
                              definition.lineno)


class _Checker:
    def __init__(self, tree, imports, torch_allowed, tunables):
        self.tree = tree
        self.imports = tuple(imports)
        self.torch_allowed = frozenset(torch_allowed)
        self.tunables = frozenset(tunables)
        self.bindings: dict[str, str] = {}  # a name bound by an import -> the dotted path it stands for
        self.parents = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[id(child)] = parent

    @staticmethod
    def fail(reason, node):
        raise StaticViolation(reason, getattr(node, "lineno", None))

    # -- imports

    def check_imports(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._allowed_module(alias.name, node)
                    if alias.asname:
                        self.bindings[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        self.bindings[root] = root
            elif isinstance(node, ast.ImportFrom):
                if node.module == "__future__" and not node.level:
                    continue
                if node.level or not node.module:
                    self.fail("relative imports are not allowed", node)
                self._allowed_module(node.module, node)
                for alias in node.names:
                    if alias.name == "*":
                        self.fail(f"'from {node.module} import *' is not allowed: import names explicitly", node)
                    path = f"{node.module}.{alias.name}"
                    self._check_path(path.split("."), node)
                    self.bindings[alias.asname or alias.name] = path

    def _allowed_module(self, module, node):
        if module not in self.imports:
            self.fail(f"import of '{module}' is not allowed (allowed: {', '.join(self.imports)})", node)

    # -- global names: every name a scope reads from the module must be bound there, or be a builtin

    def check_globals(self, table):
        module_bound = set(self.bindings)
        for symbol in table.get_symbols():
            if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
                module_bound.add(symbol.get_name())
        for scope in _scopes(table):
            for symbol in scope.get_symbols():
                if symbol.is_declared_global() and symbol.is_assigned():
                    module_bound.add(symbol.get_name())
        for scope in _scopes(table):
            for symbol in scope.get_symbols():
                if not symbol.is_referenced():
                    continue
                name = symbol.get_name()
                if scope is table:
                    reads_global = not (symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace())
                else:
                    reads_global = symbol.is_global()
                if not reads_global or name in module_bound or name in self.tunables:
                    continue
                node = self._first_load(name)
                if name in FORBIDDEN_BUILTINS or name in FORBIDDEN_NAMES_MESSAGE:
                    self.fail(f"'{name}' is not allowed", node)
                if name.startswith("_") or not hasattr(builtins, name):
                    self.fail(f"the name '{name}' is never defined in the candidate", node)

    def _first_load(self, name):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and node.id == name:
                return node
        return None

    # -- attributes and module names

    def check_uses(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                self._check_attribute(node)
            elif isinstance(node, ast.Name) and node.id in self.bindings:
                parent = self.parents.get(id(node))
                if isinstance(parent, ast.Attribute) or isinstance(node.ctx, ast.Store) and _is_import_target(parent):
                    continue
                if not isinstance(node.ctx, ast.Load):
                    self.fail(f"'{node.id}' (an import) may not be rebound or deleted", node)
                target = self.bindings[node.id]
                if isinstance(self._resolve(target.split("."), node), types.ModuleType):
                    self.fail(f"the module '{target}' may only be used through its attributes", node)
                self._check_path(target.split("."), node)

    def _check_attribute(self, node):
        if node.attr.startswith("__") and node.attr.endswith("__"):
            self.fail(f"the attribute '{node.attr}' is not allowed", node)
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self.fail(f"the attribute '.{node.attr}' is not allowed (host copies of tensor data, storages, "
                      "frames and tracebacks are off limits)", node)
        parts = _attribute_path(node)
        if not parts or parts[0] not in self.bindings:
            return
        if not isinstance(node.ctx, ast.Load):
            self.fail(f"assigning to '{'.'.join(parts)}' is not allowed: modules are read-only", node)
        if isinstance(self.parents.get(id(node)), ast.Attribute):
            return  # the outermost attribute of a path checks the whole path
        self._check_path(self.bindings[parts[0]].split(".") + parts[1:], node)

    def _check_path(self, path, node):
        dotted = ".".join(path)
        for name in path[1:]:
            if name.startswith("_"):
                self.fail(f"the private attribute in '{dotted}' is not allowed", node)
        if path[0] == "torch":
            self._check_torch(path, dotted, node)
        elif path[0] == "triton" and len(path) > 1 and path[1] not in TRITON_ATTRIBUTES:
            extra = (" (Kiln tunes declared tunables; autotuning inside a timed call would time the tuning)"
                     if path[1] == "autotune" else "")
            self.fail(f"'triton.{path[1]}' is not allowed (allowed: {', '.join(sorted(TRITON_ATTRIBUTES))}){extra}",
                      node)
        self._resolve(path, node)

    def _resolve(self, path, node):
        """Resolves a dotted path step by step; no step may be a module other than the allowed ones."""
        dotted = ".".join(path)
        try:
            obj = importlib.import_module(path[0])
        except ImportError:
            self.fail(f"the module '{path[0]}' cannot be imported here", node)
        current = path[0]
        for name in path[1:]:
            current = f"{current}.{name}"
            if hasattr(obj, name):
                obj = _safe_getattr(obj, name)
            else:
                try:
                    obj = importlib.import_module(current)
                except ImportError:
                    return None  # an attribute that does not exist fails at run time, harmlessly
            if isinstance(obj, types.ModuleType):
                real = obj.__name__
                if not (real in self.imports or any(real == a or real.startswith(a + ".") for a in ALLOWED_SUBMODULES)):
                    self.fail(f"'{dotted}' reaches the module '{real}', which is not allowed", node)
                if real.startswith("triton.language.") and real.split(".")[2] in ("core", "semantic", "standard"):
                    self.fail(f"'{dotted}' reaches Triton's internals ('{real}')", node)
        return obj

    def _check_torch(self, path, dotted, node):
        import torch

        if len(path) == 1:
            return
        name = path[1]
        if name in self.torch_allowed and len(path) == 2:
            return
        value = vars(torch).get(name)
        if isinstance(value, torch.dtype):
            return
        if len(path) == 2 and any(value is t for t in (torch.Tensor, torch.Size, torch.device, torch.dtype)):
            return
        self.fail(f"'{dotted}' is not allowed: a candidate may use torch only for "
                  f"{', '.join(sorted(self.torch_allowed))}, dtypes and the types Tensor, Size, device, dtype "
                  "(the computation belongs in Triton kernels)", node)


def _scopes(table):
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def _is_import_target(parent):
    return isinstance(parent, (ast.Import, ast.ImportFrom, ast.alias))


def _safe_getattr(obj, name):
    try:
        return getattr(obj, name)
    except Exception:  # a lazy attribute that fails to load: treat as absent
        return None


def _attribute_path(node: ast.Attribute) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


# ---------------------------------------------------------------------------------------------
# Restricted builtins


def restricted_builtins() -> dict:
    """The builtins a candidate's module runs with: FORBIDDEN_BUILTINS removed, `__import__` kept.

    `__import__` stays the real one: torch's C++ code imports its own modules lazily through the builtins of the
    innermost Python frame, which is often the candidate's (a guarded `__import__` there breaks torch, and
    fails before the run-time ban sees the op). The candidate's own import statements are checked statically.
    """
    namespace = {k: v for k, v in vars(builtins).items() if k not in FORBIDDEN_BUILTINS}
    namespace["__import__"] = builtins.__import__
    return namespace


# ---------------------------------------------------------------------------------------------
# The run-time ban


def _make_runtime_ban():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    interpreter_file = None
    try:
        import triton.runtime.interpreter as interpreter

        interpreter_file = interpreter.__file__
    except Exception:  # Triton without an interpreter: nothing to allow
        pass

    class RuntimeBan(TorchDispatchMode):
        """Records and raises any aten op a candidate runs that is not allocation, a view or a shape query."""

        def __init__(self, interpreter_allowed: bool):
            super().__init__()
            self.interpreter_allowed = interpreter_allowed and interpreter_file is not None
            self.violation: str | None = None

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = func.overloadpacket.__name__
            namespace = getattr(func, "namespace", "aten")
            if namespace in ("aten", "prim") and name in ALLOWED_OPS:
                return func(*args, **kwargs)
            if self.interpreter_allowed and self._interpreter_op(name, args):
                return func(*args, **kwargs)
            reason = (f"torch op {namespace}.{name} called at run time (a candidate may use torch only to allocate, "
                      "make views and query shapes; the computation belongs in Triton kernels)")
            if self.violation is None:
                self.violation = reason
            raise ForbiddenOp(reason)

        def _interpreter_op(self, name, args):
            if name not in ("set_", "copy_"):
                return False
            if name == "copy_":
                if len(args) < 2 or not all(isinstance(a, torch.Tensor) for a in args[:2]):
                    return False
                dst, src = args[0], args[1]
                if (dst.untyped_storage().data_ptr() != src.untyped_storage().data_ptr()
                        or dst.data_ptr() != src.data_ptr()):
                    return False
            frame = sys._getframe(2)
            for _ in range(6):
                if frame is None:
                    return False
                if frame.f_code.co_filename == interpreter_file:
                    return True
                frame = frame.f_back
            return False

    return RuntimeBan


_RUNTIME_BAN = None


def runtime_ban(interpreter_allowed: bool):
    """A fresh RuntimeBan mode (use as a context manager around the candidate's code)."""
    global _RUNTIME_BAN
    if _RUNTIME_BAN is None:
        _RUNTIME_BAN = _make_runtime_ban()
    return _RUNTIME_BAN(interpreter_allowed)
