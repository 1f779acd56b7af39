package import KilnTask

/// What a proposer (a model through Kiln's agent loop, or a coding agent through MCP) must know of a
/// task's candidates, by backend: the language, the file, the rules Kiln enforces, how tunables are
/// declared.
package enum TaskBrief {
    /// The candidate rules of a task, as short lines.
    /// - Parameter task: the task.
    /// - Returns: the rules.
    package static func rules(for task: KernelTask) -> [String] {
        switch task.backend {
        case .c:
            return [
                "A candidate is one C file defining `\(task.entryPoint)` (declared in \(task.header)). Only `\(task.entryPoint)` may be a global symbol: make helpers and globals `static`. No constructors.",
                "Declare tunables as `// kiln:tunable NAME V1 V2 ...` (the first is the default; passed as -DNAME=V) and alternative flag sets as `// kiln:flags -O3 -march=native | ...`.",
                "It runs in Kiln's sandbox: it may compute, allocate memory, use threads (OpenMP) and read the clock; it may not start processes, open files or sockets.",
            ]
        case .triton:
            return [
                "A candidate is one Python file defining `\(task.entryPoint)` with exactly the parameters of \(task.header), and its `@triton.jit` kernels; it writes its outputs into the given tensors and returns None.",
                "It may import only torch, triton, triton.language, math, typing, functools and dataclasses (what the task allows), and use torch only to allocate (torch.empty and the like), make views and read shapes: every computation belongs in Triton kernels (PyTorch compute ops, cuBLAS and triton.autotune are refused, statically and at run time).",
                "Declare tunables as `# kiln:tunable NAME V1 V2 ...` (the first is the default): each is a module-level constant of that name; pass it to kernels as a `tl.constexpr` argument.",
                "It runs in Kiln's sandbox with no network and no files beyond its task's signature and instance files.",
            ]
        }
    }

    /// The candidate file's extension: `c` or `py`.
    /// - Parameter task: the task.
    /// - Returns: the extension.
    package static func fileExtension(for task: KernelTask) -> String { task.backend.sourceExtension }
}
