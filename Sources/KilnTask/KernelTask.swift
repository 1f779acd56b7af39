package import Foundation

/// A kernel problem, loaded from a task folder and validated.
///
/// Everything kernel-specific lives in the folder's files; this type only knows where they are,
/// how to build them, which shapes to run and how close to the oracle an answer must be.
package struct KernelTask: Sendable {
    /// The kind of implementation a task's candidates are, and so the backend that builds, runs and times them.
    package enum Backend: String, Sendable, Hashable, Codable, CaseIterable {
        /// C on the local CPU (the default).
        case c
        /// A Python file of Triton kernels on PyTorch, on a GPU (or Triton's CPU interpreter, correctness only).
        case triton

        /// The candidates' file extension.
        package var sourceExtension: String { self == .c ? "c" : "py" }
        /// The candidates' language, for people and for the model.
        package var language: String { self == .c ? "C" : "Python (Triton kernels on PyTorch)" }
    }

    /// How the task's C files and its candidates are compiled.
    package struct Build: Sendable, Hashable, Codable {
        /// The C compiler's command name, for example `gcc`.
        package var compiler: String
        /// The candidates' default flags.
        package var flags: [String]
        /// The baseline's flags, fixed by the task so that speedups mean something.
        package var baselineFlags: [String]
        /// The oracle's flags.
        package var oracleFlags: [String]
        /// Libraries and other linker inputs, for example `-lm`.
        package var link: [String]
    }

    /// How close a candidate's outputs must be to the oracle's.
    package struct Tolerance: Sendable, Hashable, Codable {
        /// The largest absolute difference allowed at any element.
        package var maxAbs: Double
        /// The largest allowed `||candidate - oracle|| / ||oracle||` over all outputs.
        package var relL2: Double
    }

    /// Limits on one worker process.
    package struct Limits: Sendable, Hashable, Codable {
        /// The longest one call of the entry point may take before its process group is killed.
        package var callTimeout: Duration
        /// The most memory (address space) a worker may map, in MiB.
        package var memoryMB: Int
    }

    /// The backend the task's implementations run on.
    package var backend: Backend
    /// The task folder.
    package var folder: URL
    /// The task's name.
    package var name: String
    /// What the kernel computes, for people and for the model.
    package var summary: String
    /// The function every implementation defines.
    package var entryPoint: String
    /// The file that fixes the entry point's signature, relative to the folder: the C header with its
    /// prototype, or a Triton task's `signature.py`.
    package var header: String
    /// The task-owned file that builds problem instances, relative to the folder.
    package var instance: String
    /// The correct (possibly slow) implementation, relative to the folder.
    package var oracle: String
    /// The implementation speedups are measured against, relative to the folder.
    package var baseline: String
    /// Starting designs, relative to the folder.
    package var seeds: [String]
    /// How things are compiled.
    package var build: Build
    /// How close answers must be, unless the outputs' dtype has limits of its own.
    package var tolerance: Tolerance
    /// Limits by output dtype (`[tolerance.float16]`), for backends whose checks name the dtype.
    package var tolerancesByDtype: [String: Tolerance] = [:]
    /// Limits on each worker.
    package var limits: Limits
    /// The shapes every evaluation runs.
    package var suite: [Shape]
    /// The shapes checked once at the end of a run, never shown to a proposer.
    package var heldout: [Shape]
    /// Small shapes for a device that checks correctness only and slowly (Triton's CPU interpreter): they
    /// replace the suite there (see ``forCorrectnessOnlyDevice()``).
    package var interpreterSuite: [Shape] = []
    /// Small held-out shapes for such a device.
    package var interpreterHeldout: [Shape] = []
    /// For a backend whose candidate drivers read the task's manifest: the manifest without the shapes,
    /// the oracle or the baseline, so that a candidate's process never sees them.
    package var driverManifest: String?
    /// A SHA-256 over every file that determines the task's behaviour.
    package var contentHash: String

    /// The limits for outputs of `dtype` (the task's defaults when it names none, or has none for it).
    /// - Parameter dtype: the outputs' dtype as the backend names it, or nil.
    /// - Returns: the limits.
    package func tolerance(forDtype dtype: String?) -> Tolerance {
        dtype.flatMap { tolerancesByDtype[$0] } ?? tolerance
    }

    /// The task as a device that checks correctness only sees it: its interpreter shapes as the suite and
    /// held-out shapes, when it has them.
    /// - Returns: the task with those shapes, or itself when it declares none.
    package func forCorrectnessOnlyDevice() -> KernelTask {
        guard !interpreterSuite.isEmpty else { return self }
        var task = self
        task.suite = interpreterSuite
        task.heldout = interpreterHeldout
        return task
    }

    /// The absolute location of a file named relative to the task folder.
    /// - Parameter relativePath: a path inside the task folder.
    /// - Returns: its URL.
    package func url(of relativePath: String) -> URL {
        folder.appending(path: relativePath)
    }

    /// Picks suite or held-out shapes by name, in the order asked.
    /// - Parameter names: shape names; empty means the whole suite.
    /// - Returns: the shapes.
    /// - Throws: ``TaskError`` with code `.unknownShape` naming the shapes that exist.
    package func shapes(named names: [String]) throws(TaskError) -> [Shape] {
        if names.isEmpty { return suite }
        var all = suite + heldout
        for shape in interpreterSuite + interpreterHeldout where !all.contains(where: { $0.name == shape.name }) {
            all.append(shape)
        }
        var picked: [Shape] = []
        var unknown: [String] = []
        for name in names {
            if let shape = all.first(where: { $0.name == name }) {
                picked.append(shape)
            } else {
                unknown.append(name)
            }
        }
        guard unknown.isEmpty else {
            let known = all.map(\.name).joined(separator: ", ")
            throw TaskError(
                .unknownShape,
                file: url(of: "task.toml").relativePathForDisplay,
                "unknown shape \(unknown.map { "'\($0)'" }.joined(separator: ", ")); task '\(name)' has: \(known)"
            )
        }
        return picked
    }
}

extension URL {
    /// The path relative to the current directory when it lies below it, else the full path.
    package var relativePathForDisplay: String {
        let cwd = FileManager.default.currentDirectoryPath
        let path = standardizedFileURL.path
        if path.hasPrefix(cwd + "/") { return String(path.dropFirst(cwd.count + 1)) }
        return path
    }
}
