import Foundation
package import KilnAgent
import KilnHarness
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
        let (id, lock, journal, machine) = try await orchestrator.createRun(task: task)
        self.lock = lock
        let settings = RunSettings(
            id: id,
            taskPath: taskPath,
            taskName: task.name,
            taskHash: task.contentHash,
            designs: [],
            strategy: "tpe",
            seed: UInt64.random(in: 0...UInt64.max),
            maxSeconds: nil,
            maxEvaluations: nil,
            minPairs: 3,
            maxPairs: 6,
            proposer: proposer,
            machine: machine,
            kilnVersion: KilnRun.version,
            agent: nil
        )
        try journal.append(.started(settings))
        let ledger = Ledger(journal: journal, state: RunState(entries: try journal.entries()))
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
            evaluator: orchestrator.evaluator,
            workspace: Workspace(root: workspace),
            options: orchestrator.evaluationOptions(settings),
            progress: { _ in }
        )
    }

    /// Evaluates a candidate source (or tunes it), journaled; returns the compact text the model tools give.
    /// - Parameters:
    ///   - tool: `evaluate` or `tune`.
    ///   - source: the candidate's C source.
    ///   - arguments: the tool's other arguments (params, flag_set, shapes, budget, strategy).
    /// - Returns: the outcome.
    package func run(_ tool: String, source: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        await acquire()
        defer { release() }
        count += 1
        let path = "candidate-\(count).c"
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
