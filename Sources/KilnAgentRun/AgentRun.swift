import Foundation
package import KilnAgent
import KilnHarness
package import KilnRun
package import KilnTask
import Synchronization

extension RunOrchestrator {
    /// Starts an agent run: a model redesigns and tunes the kernel through tools, journaled.
    /// - Parameters:
    ///   - task: the task.
    ///   - taskPath: the task folder as the user gave it.
    ///   - options: wall-time and evaluation budgets, timing options.
    ///   - agent: the model's endpoint and the conversation's budgets.
    ///   - model: the model client (for the run's lifetime).
    ///   - evaluatesSeed: evaluate the task's first seed design first, so the prompt has the baseline's figures.
    ///   - progress: called as the run goes.
    /// - Returns: the run's id and final state.
    /// - Throws: ``RunError`` (the run stays resumable when the model fails), ``HarnessError``, ``TaskError``.
    package func startAgent(
        task: KernelTask,
        taskPath: String,
        options: RunOptions,
        agent: AgentSettings,
        model: any ChatModel,
        evaluatesSeed: Bool = true,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) async throws -> (id: String, state: RunState) {
        let (id, lock, journal, _) = try await createRun(
            task: task,
            taskPath: taskPath,
            options: options,
            proposer: agent.label,
            agent: agent
        )
        try prepareWorkspace(task: task, folder: store.folder(of: id))
        let state = try await driveAgent(
            id: id,
            journal: journal,
            task: task,
            model: model,
            evaluatesSeed: evaluatesSeed,
            progress: progress
        )
        withExtendedLifetime(lock) {}
        return (id, state)
    }

    /// Continues an agent run with a model client made for it again.
    /// - Parameters:
    ///   - id: the run's id.
    ///   - model: the model client.
    ///   - progress: called as the run goes.
    /// - Returns: the run's id and final state.
    /// - Throws: as ``startAgent(task:taskPath:options:agent:model:evaluatesSeed:progress:)``.
    package func resumeAgent(
        _ id: String,
        model: any ChatModel,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) async throws -> (id: String, state: RunState) {
        let (id, lock, journal, task) = try reopen(id)
        let state = try await driveAgent(
            id: id,
            journal: journal,
            task: task,
            model: model,
            evaluatesSeed: false,
            progress: progress
        )
        withExtendedLifetime(lock) {}
        return (id, state)
    }

    /// A run's settings, read without locking (to rebuild its model client before resuming).
    /// - Parameter id: the run's id or a unique prefix.
    /// - Returns: the full id and the settings.
    /// - Throws: ``RunError``.
    package func settings(of id: String) throws(RunError) -> (id: String, settings: RunSettings) {
        let id = try store.resolve(id)
        let journal = try Journal(url: store.journalURL(of: id), readOnly: true)
        guard let settings = RunState(entries: try journal.entries()).settings else {
            throw RunError(.corrupt, "run \(id) has no start event")
        }
        return (id, settings)
    }

    private func prepareWorkspace(task: KernelTask, folder: URL) throws(RunError) {
        let workspace = folder.appending(path: "workspace")
        do {
            try FileManager.default.createDirectory(
                at: workspace.appending(path: "seeds"),
                withIntermediateDirectories: true
            )
            try FileManager.default.copyItem(at: task.url(of: task.header), to: workspace.appending(path: task.header))
            for seed in task.seeds {
                let name = URL(filePath: seed).lastPathComponent
                try FileManager.default.copyItem(at: task.url(of: seed), to: workspace.appending(path: "seeds/\(name)"))
            }
        } catch {
            throw RunError(.io, "cannot prepare the run's workspace in \(workspace.path)", underlying: error)
        }
    }

    private func driveAgent(
        id: String,
        journal: Journal,
        task: KernelTask,
        model: any ChatModel,
        evaluatesSeed: Bool,
        progress: @escaping @Sendable (RunProgress) -> Void
    ) async throws -> RunState {
        let ledger = try Ledger(journal: journal)
        // On a device that checks correctness only, the task's interpreter shapes are the suite.
        let loaded = task
        let task: KernelTask
        do {
            task = try await evaluator.prepare(loaded).task
        } catch is CancellationError {
            return try interrupt(ledger, id: id)
        }
        defer { progress(ledger.partFinished) }
        guard let settings = ledger.state.settings, let agent = settings.agent else {
            throw RunError(.corrupt, "run \(id) is not an agent run")
        }
        let workspace = Workspace(root: store.folder(of: id).appending(path: "workspace"))
        let context = AgentRunContext(
            ledger: ledger,
            task: task,
            evaluator: evaluator,
            workspace: workspace,
            sandbox: try await evaluator.sandbox(compiler: task.build.compiler),
            options: evaluationOptions(settings),
            progress: progress
        )
        func stop() throws -> RunState { try interrupt(ledger, id: id) }
        if ledger.state.outcome != nil { return ledger.state }
        if ledger.state.agent.messages.isEmpty {
            var seedLine = ""
            if evaluatesSeed, let seed = task.seeds.first {
                try ledger.record(.trackStarted(name: "seed", rationale: "the task's seed design, as given"))
                let path = "seeds/\(URL(filePath: seed).lastPathComponent)"
                do {
                    let (_, result) = try await context.evaluate(path: path, settings: [], flagSet: nil, shapes: nil)
                    seedLine = AgentPrompt.baselineFigures(result, path: path)
                } catch is CancellationError {
                    return try stop()
                }
            }
            try ledger.record(.trackStarted(name: "main", rationale: "the model's first design"))
            try ledger.record(
                .agent(.message(.system(AgentPrompt.system(task: task, settings: settings, seedLine: seedLine))))
            )
            try ledger.record(
                .agent(
                    .message(
                        .user(
                            "Begin. Read the header and the seed design, plan, keep notes, and make the kernel as fast as you can. Your workspace:\n"
                                + ((try? workspace.list("")) ?? "")
                        )
                    )
                )
            )
        }
        let retrying = RetryingModel(model) { error, attempt, delay in
            context.retries.withLock { $0.append("attempt \(attempt) failed (\(error.message)); retrying in \(delay)") }
        }
        let loop = AgentLoop(
            model: retrying,
            toolbox: context,
            budgets: agent.budgets,
            compactor: Compactor(contextLimit: agent.contextLimit),
            prices: agent.prices
        )
        let ending: AgentEnding
        do {
            ending = try await loop.run(state: ledger.state.agent, host: context)
        } catch let error as ModelError {
            if Task.isCancelled { return try stop() }
            try ledger.record(.agent(.retry("gave up: \(error.message)")))
            _ = try stop()
            throw RunError(
                .modelUnavailable,
                "\(error.message)\nThe run is saved; continue it with 'kiln resume \(id)' once the model endpoint works."
            )
        }
        switch ending {
        case .interrupted:
            return try stop()
        case .finished, .budget:
            let reason = if case .budget = ending { "budget" } else { "finished" }
            guard try await finish(reason: reason, ledger: ledger, task: task, id: id, progress: progress) else {
                return try stop()
            }
            return ledger.state
        }
    }
}

/// The system prompt of an agent run: the task, the machine, the rules.
enum AgentPrompt {
    static func system(task: KernelTask, settings: RunSettings, seedLine: String) -> String {
        let header = (try? String(contentsOf: task.url(of: task.header), encoding: .utf8)) ?? ""
        let shapes = task.suite.map { "- \($0.name): \($0.summary)" }.joined(separator: "\n")
        let machine = settings.machine
        return """
            You are Kiln's kernel engineer. Make the C function `\(task.entryPoint)` as fast as possible on this machine while staying correct.

            ## Task: \(task.name)
            \(task.summary)

            The entry point (\(task.header), in your workspace):
            ```c
            \(header)
            ```

            ## Suite (every full evaluation runs all of these)
            \(shapes)
            Speedups are measured against the task's baseline (\(task.baseline)), a straightforward implementation built with \(task.build.compiler) \(task.build.baselineFlags.joined(separator: " ")), on one thread. Candidates default to \(task.build.flags.joined(separator: " ")); OpenMP is available.
            \(seedLine)

            ## Machine (measured by Kiln)
            \(machine.cpuModel), \(machine.simd), \(machine.threads) threads; fp32 FMA peak \(Int(machine.peakGflops1)) GFLOP/s on one core, \(Int(machine.peakGflopsAll)) on all; STREAM triad \(String(format: "%.1f", machine.bandwidthGbsAll)) GB/s; L1d \(machine.l1dBytes >> 10) KiB, L2 \(machine.l2Bytes >> 10) KiB, L3 \(machine.l3Bytes >> 20) MiB.

            ## Rules
            - A candidate is one C file in your workspace. Only `\(task.entryPoint)` may be a global symbol: make helpers and globals `static`. No constructors. Declare tunables as `// kiln:tunable NAME V1 V2 ...` (first is the default; used as -DNAME=V) and alternative flag sets as `// kiln:flags -O3 -march=native | ...`.
            - `evaluate` checks a candidate against a hidden double-precision oracle on fresh random inputs (tolerance: max abs \(task.tolerance.maxAbs), relative L2 \(task.tolerance.relL2)) and times it interleaved with the baseline. You have no access to the oracle. Held-out shapes (other sizes, head dims, group ratios, ragged lengths) exist and are checked at the end: do not specialise to the suite's sizes.
            - `tune` searches a candidate's declared tunables for you; spend your own calls on structural redesigns, and start each redesign with `new_track`.
            - Keep notes with `notes`: they survive when the conversation is compacted.
            - Budgets: \(settings.maxEvaluations.map { "\($0) evaluations" } ?? "no evaluation limit"), \(settings.maxSeconds.map { "\(Int($0 / 60)) minutes" } ?? "no time limit")\(settings.agent?.budgets.toolCalls.map { ", \($0) tool calls" } ?? "").
            - Call `finish` with a summary when you are done.
            """
    }

    static func baselineFigures(_ result: EvaluationResult, path: String) -> String {
        let shapes = result.shapes.map { shape in
            "\(shape.name) baseline \(String(format: "%.3g", (shape.baselineSeconds ?? 0) * 1e3)) ms"
                + (shape.speedup.map { String(format: ", seed %.2fx", $0) } ?? "")
        }
        let verdict =
            result.correct
            ? String(format: "%.2fx", result.geomeanSpeedup ?? 0) : "failed: \(result.failure ?? "")"
        return
            "Starting point: \(path) measured \(verdict) (geometric mean). Per shape: \(shapes.joined(separator: "; "))."
    }
}
