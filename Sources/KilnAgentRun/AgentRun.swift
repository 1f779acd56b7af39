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
        let target: BackendTarget
        do {
            (task, target) = try await evaluator.prepare(loaded)
        } catch is CancellationError {
            return try interrupt(ledger, id: id)
        }
        defer { progress(ledger.partFinished) }
        return try await withExecutorStatus(runID: id) {
            try await stoppingResumably(ledger, id: id) {
                try await converse(
                    ledger: ledger,
                    id: id,
                    task: task,
                    target: target,
                    model: model,
                    evaluatesSeed: evaluatesSeed,
                    progress: progress
                )
            }
        }
    }

    private func converse(
        ledger: Ledger,
        id: String,
        task: KernelTask,
        target: BackendTarget,
        model: any ChatModel,
        evaluatesSeed: Bool,
        progress: @escaping @Sendable (RunProgress) -> Void
    ) async throws -> RunState {
        guard let settings = ledger.state.settings, let agent = settings.agent else {
            throw RunError(.corrupt, "run \(id) is not an agent run")
        }
        let workspace = Workspace(root: store.folder(of: id).appending(path: "workspace"))
        let context = AgentRunContext(
            ledger: ledger,
            task: task,
            executor: executor,
            workspace: workspace,
            sandbox: try await evaluator.sandbox(compiler: task.build.compiler),
            options: evaluationOptions(settings),
            progress: progress
        )
        func stop() throws -> RunState { try interrupt(ledger, id: id) }
        if ledger.state.outcome != nil { return ledger.state }
        if ledger.state.agent.messages.isEmpty {
            var startingPoint: String?
            if evaluatesSeed, let seed = task.seeds.first {
                try ledger.record(.trackStarted(name: "seed", rationale: "the task's seed design, as given"))
                let path = "seeds/\(URL(filePath: seed).lastPathComponent)"
                do {
                    let (_, result) = try await context.evaluate(path: path, settings: [], flagSet: nil, shapes: nil)
                    startingPoint = AgentPrompt.startingPoint(result, path: path, machine: settings.machine)
                } catch is CancellationError {
                    return try stop()
                }
            }
            try ledger.record(.trackStarted(name: "main", rationale: "the model's first design"))
            try ledger.record(
                .agent(
                    .message(
                        .system(
                            AgentPrompt.system(
                                task: task,
                                settings: settings,
                                startingPoint: startingPoint,
                                target: target
                            )
                        )
                    )
                )
            )
            try ledger.record(
                .agent(
                    .message(
                        .user(
                            "Begin. Read the \(task.backend == .c ? "header" : "signature file") and the seed design, plan, keep notes, and make the kernel as fast as you can. Your workspace:\n"
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
            model: TimedModel(base: retrying, ledger: ledger),
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

/// The model as the run sees it: every request (with its retries and back-off) counted as time spent
/// waiting for the model, apart from Kiln's own bookkeeping.
private struct TimedModel: ChatModel {
    let base: any ChatModel
    let ledger: Ledger

    var label: String { base.label }
    var secrets: [String] { base.secrets }

    func complete(_ request: ChatRequest) async throws(ModelError) -> ChatResponse {
        try await ledger.timing(.model) { () async throws(ModelError) -> ChatResponse in
            try await base.complete(request)
        }
    }
}
