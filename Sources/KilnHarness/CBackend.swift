import Foundation
import KilnSandbox
import KilnTask

/// C on the local CPU: candidates are compiled, inspected and linked in the sandbox into workers; each
/// worker runs under Kiln's C monitor (`kiln_monitor.c`, linked with the task's instance file), which
/// starts it in the sandbox with a seccomp allowlist, shares the problem's arena with it, freezes it
/// except during its own timed call, and times it from outside.
struct CBackend: Backend {
    /// The folder for builds.
    var cacheDirectory: URL
    /// The sandbox candidates are built and run in.
    var sandbox: Sandbox

    private var builder: Builder { Builder(cacheDirectory: cacheDirectory, sandbox: sandbox) }

    var reportsWorkerAccounting: Bool { true }

    func target(for task: KernelTask) async throws(HarnessError) -> BackendTarget {
        BackendTarget(
            backend: .c,
            device: "cpu",
            timingUnavailable: nil,
            tools: try await builder.compilerVersion(task.build.compiler)
        )
    }

    func flags(task: KernelTask, space: TunableSpace, configuration: TunableConfiguration) -> [String] {
        let base = space.flagSets.isEmpty ? task.build.flags : space.flagSets[configuration.flagSet]
        return base + configuration.defines
    }

    func trusted(_ role: TrustedRole, task: KernelTask, target: BackendTarget) async throws(HarnessError)
        -> Implementation
    {
        let monitor = try await builder.monitor(task: task)
        let worker = try await builder.trustedWorker(task: task, role: role)
        return implementation(role == .oracle ? .oracle : .baseline, monitor: monitor, worker: worker, task: task)
    }

    func candidate(
        task: KernelTask,
        source: String,
        space: TunableSpace,
        configuration: TunableConfiguration,
        displayName: String,
        target: BackendTarget
    ) async throws(HarnessError) -> CandidatePreparation {
        let monitor = try await builder.monitor(task: task)
        switch try await builder.candidateWorker(
            task: task,
            source: source,
            flags: flags(task: task, space: space, configuration: configuration),
            displayName: displayName
        ) {
        case .built(let worker, let log):
            return .ready(implementation(.candidate, monitor: monitor, worker: worker, task: task), log: log)
        case .rejected(let rejection):
            return .rejected(rejection)
        }
    }

    private func implementation(_ role: Implementation.Role, monitor: URL, worker: URL, task: KernelTask)
        -> Implementation
    {
        let unsafe = sandbox.mode == .unsafeNone
        let memoryMB = task.limits.memoryMB
        return Implementation(role: role) { shape, folder throws(HarnessError) in
            let log = folder.appending(path: "worker.log")
            var arguments = [
                "--worker", worker.path, "--shape", shape.driverSpec, "--memory-mb", String(memoryMB),
                "--cpu-seconds", "3600", "--log-bytes", String(1 << 20), "--log", log.path,
            ]
            if unsafe { arguments.append("--unsafe-no-sandbox") }
            return DriverLaunch(
                executable: monitor.path,
                arguments: arguments,
                environment: ["LC_ALL": "C"],
                log: log
            )
        }
    }
}
