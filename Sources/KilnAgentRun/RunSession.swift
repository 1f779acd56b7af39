import Foundation
package import KilnAgent
import KilnHarness
package import KilnRun
package import KilnTask

/// A run that an outside agent drives one call at a time (through MCP): each evaluation or tuning it
/// asks for is journaled as in any run, so the user can open it in the dashboard.
///
/// Calls are serialised: one evaluation at a time, in the order they arrive.
package actor RunSession {
    /// The run's id.
    package nonisolated let id: String
    private let ledger: Ledger
    private let context: AgentRunContext
    private let lock: RunLock
    private let orchestrator: RunOrchestrator
    private let task: KernelTask
    private var isBusy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var count = 0

    /// Starts a run for an outside proposer.
    /// - Parameters:
    ///   - orchestrator: the runs folder and evaluator.
    ///   - task: the task.
    ///   - taskPath: the task folder as given.
    ///   - proposer: who proposes candidates, such as `mcp`.
    /// - Throws: ``RunError`` or ``HarnessError``.
    package init(orchestrator: RunOrchestrator, task: KernelTask, taskPath: String, proposer: String) async throws {
        // No budgets: the client decides when it is done.
        var options = RunOptions()
        options.maxSeconds = nil
        let (id, lock, journal, settings) = try await orchestrator.createRun(
            task: task,
            taskPath: taskPath,
            options: options,
            proposer: proposer
        )
        self.lock = lock
        let ledger = try Ledger(journal: journal)
        try ledger.record(.trackStarted(name: proposer, rationale: "candidates sent by \(proposer)"))
        let workspace = orchestrator.store.folder(of: id).appending(path: "workspace")
        try? FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        self.id = id
        self.ledger = ledger
        self.task = task
        self.orchestrator = orchestrator
        self.context = AgentRunContext(
            ledger: ledger,
            task: task,
            executor: orchestrator.executor,
            workspace: Workspace(root: workspace),
            sandbox: try await orchestrator.evaluator.sandbox(compiler: task.build.compiler),
            options: orchestrator.evaluationOptions(settings),
            progress: { _ in }
        )
    }

    /// Evaluates a candidate source (or tunes it), journaled; returns the compact text the model tools give.
    /// - Parameters:
    ///   - tool: `evaluate` or `tune`.
    ///   - source: the candidate's whole source.
    ///   - arguments: the tool's other arguments (params, flag_set, shapes, budget, strategy).
    /// - Returns: the outcome.
    package func run(_ tool: String, source: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        await acquire()
        defer { release() }
        count += 1
        let path = "candidate-\(count).\(TaskBrief.fileExtension(for: context.task))"
        do {
            try context.standard.workspace.write(path, content: source)
        } catch {
            return .error("cannot store the candidate: \(error.message)")
        }
        var arguments = arguments
        arguments["path"] = .string(path)
        let outcome = await context.run(tool, arguments: arguments)
        try? orchestrator.writeReport(ledger.state, id: id)
        return outcome
    }

    private func acquire() async {
        if !isBusy {
            isBusy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            isBusy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
