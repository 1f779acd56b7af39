import ArgumentParser
import Foundation
import KilnHarness
import KilnRay

/// Where evaluations run: here, or on a Ray cluster.
struct ExecutorOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where evaluations run: local (here, one at a time; the default) or ray (a Ray cluster's kiln_slot nodes).",
            valueName: "local|ray"
        )
    )
    var executor: String?

    @Option(
        name: .customLong("ray-address"),
        help: ArgumentHelp("The Ray cluster's head, HOST:PORT (with --executor ray).", valueName: "address")
    )
    var rayAddress: String?

    @Option(
        name: .customLong("ray-kiln"),
        help: ArgumentHelp(
            "The kiln executable on the cluster's nodes (default: this kiln's own path).",
            valueName: "path"
        )
    )
    var rayKiln: String?

    @Option(
        name: .customLong("eval-deadline"),
        help:
            "The longest one remote evaluation may take before it is cancelled on its node, e.g. 90s, 30m (default 30m)."
    )
    var evalDeadline: String = "30m"

    func validate() throws {
        if let executor, !["local", "ray"].contains(executor) {
            throw ValidationError("--executor must be local or ray, not '\(executor)'")
        }
        if executor == "ray", rayAddress == nil {
            throw ValidationError("--executor ray needs --ray-address HOST:PORT (the head node's address)")
        }
        if rayAddress != nil, executor == "local" {
            throw ValidationError("--ray-address goes with --executor ray")
        }
        guard let seconds = DurationText.seconds(evalDeadline), seconds > 0 else {
            throw ValidationError("--eval-deadline '\(evalDeadline)' is not a positive duration; write e.g. 90s or 30m")
        }
    }

    /// The Ray address to use: the one given, else (resuming) the one a run's executor label names.
    func address(resuming label: String?) -> String? {
        if executor == "local" { return nil }
        if let rayAddress { return rayAddress }
        if executor == nil, let label, label.hasPrefix("ray at ") { return String(label.dropFirst("ray at ".count)) }
        return nil
    }

    /// Runs `body` with the executor chosen: nil for the local one, or a connected Ray executor.
    /// - Parameters:
    ///   - evaluator: the evaluator (its cache folder and sandbox mode).
    ///   - label: the executor a resumed run was started with, if any.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: ``ExecutorError`` when the cluster cannot be reached; what `body` throws.
    func with<R: Sendable>(
        evaluator: Evaluator,
        resuming label: String? = nil,
        _ body: ((any EvaluationExecutor)?) async throws -> R
    ) async throws -> R {
        guard let address = address(resuming: label) else { return try await body(nil) }
        let environment = ProcessInfo.processInfo.environment
        let ownPath = URL(filePath: "/proc/self/exe").resolvingSymlinksInPath().path
        var configuration = RayConfiguration(
            address: address,
            nodeKiln: rayKiln ?? ownPath,
            workFolder: evaluator.cacheDirectory.appending(path: "ray"),
            sandboxMode: evaluator.sandboxMode,
            pythons: PythonEnvironment.configuredExecutables(environment: environment),
            environment: environment,
            fallbackMachine: try await MachineProbe(cacheDirectory: evaluator.cacheDirectory).profile()
        )
        configuration.deadline = .seconds(DurationText.seconds(evalDeadline) ?? 1800)
        return try await RayExecutor.with(configuration) { executor in try await body(executor) }
    }
}
