import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnSandbox
import KilnTask
import KilnTuner
import Synchronization

/// The run's side of an agent run: the tools that need the harness and the journal (evaluate, tune,
/// probe, leaderboard, design tracks, finish), the file tools, and the host of the agent loop.
///
/// Sendable: its parts are (the ledger serialises its writers; the retry notes, written from the model
/// client's callbacks, are behind a `Mutex`).
final class AgentRunContext: AgentToolbox, AgentHost, Sendable {
    let ledger: Ledger
    let task: KernelTask
    let executor: any EvaluationExecutor
    let standard: StandardTools
    let options: EvaluationOptions
    let progress: @Sendable (RunProgress) -> Void
    let retries = Mutex<[String]>([])
    /// An executor failure met by a tool (the cluster gone, a node unfit): the run stops before the tool's
    /// result is journaled, so that a resume runs the call again.
    let executorFailure = Mutex<ExecutorError?>(nil)
    /// The candidates an interrupted tool call made before this part of the run began (those made since
    /// the model's last message, when it has sent one): its re-run takes each up once, finished or not.
    let resumable: Mutex<Set<Int>>

    init(
        ledger: Ledger,
        task: KernelTask,
        executor: any EvaluationExecutor,
        workspace: Workspace,
        sandbox: Sandbox,
        options: EvaluationOptions,
        progress: @escaping @Sendable (RunProgress) -> Void
    ) {
        self.ledger = ledger
        self.task = task
        self.executor = executor
        self.standard = StandardTools(workspace: workspace, sandbox: sandbox)
        self.options = options
        self.progress = progress
        let state = ledger.state
        let hasAsked = state.agent.messages.contains { if case .assistant = $0 { true } else { false } }
        self.resumable = Mutex(hasAsked ? Set(state.openCandidates) : [])
    }

    var state: RunState { ledger.state }

    // MARK: - AgentHost

    func record(_ event: AgentEvent) throws {
        if case .message(.tool) = event, let failure = executorFailure.withLock({ $0 }) { throw failure }
        for note in retries.withLock({ notes in
            defer { notes = [] }; return notes
        }) {
            try ledger.record(.agent(.retry(note)))
        }
        try ledger.record(.agent(event))
        if case .budgetExhausted(let budget) = event { progress(.budgetExhausted(budget)) }
        if case .message(.tool(_, let name, let content)) = event {
            progress(.toolFinished(name: name, summary: String(content.prefix(100)), state: ledger.state))
        }
    }

    func exhaustedBudget() -> String? { state.exhaustedBudget() }

    func compactionContext() -> String {
        let notes = standard.currentNotes
        let tracks = state.tracks.map {
            "- \($0.name)\($0.name == state.currentTrack ? " (current)" : ""): \($0.rationale)"
        }
        return """
            ## Your notes
            \(notes.isEmpty ? "(none)" : notes)

            ## Leaderboard
            \(leaderboardText())

            ## Design tracks
            \(tracks.isEmpty ? "(none)" : tracks.joined(separator: "\n"))
            """
    }

    // MARK: - Tools

    /// Every tool of an agent run: the workspace's, then the harness's.
    var registry: ToolRegistry { ToolRegistry(standard.tools + harnessTools) }

    var definitions: [ToolDefinition] { registry.definitions }

    func run(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        // The harness's tools time their evaluations themselves; the workspace's are the model's work too.
        guard StandardTools.names.contains(name) else { return await registry.run(name, arguments: arguments) }
        return await ledger.timing(.tools) { await registry.run(name, arguments: arguments) }
    }

    /// The harness's tools over this run: evaluate, tune, probe, leaderboard, design tracks, finish.
    var harnessTools: [Tool] {
        func tool(
            _ definition: ToolDefinition,
            _ body: @escaping @Sendable (AgentRunContext, [String: JSONValue]) async throws -> ToolOutcome
        ) -> Tool {
            Tool(definition) { [self] arguments in
                await Self.guarded(onExecutorFailure: { error in executorFailure.withLock { $0 = error } }) {
                    try await body(self, arguments)
                }
            }
        }
        return [
            tool(HarnessToolDefinitions.evaluate) { try await $0.evaluateTool($1) },
            tool(HarnessToolDefinitions.tune) { try await $0.tuneTool($1) },
            tool(HarnessToolDefinitions.probe) { context, _ in context.probeTool() },
            tool(HarnessToolDefinitions.leaderboard) { context, _ in
                ToolOutcome(context.leaderboardText() + "\n" + context.budgetLine())
            },
            tool(HarnessToolDefinitions.newTrack) { try $0.newTrackTool($1) },
            tool(HarnessToolDefinitions.switchTrack) { try $0.switchTrackTool($1) },
            tool(HarnessToolDefinitions.finish) { _, arguments in
                ToolOutcome("finishing", finishes: try arguments.string("summary"))
            },
        ]
    }

    /// Runs a tool body; its failures become outcomes the model can act on, except an executor's, which
    /// is kept to stop the run.
    private static func guarded(
        onExecutorFailure: (ExecutorError) -> Void,
        _ body: () async throws -> ToolOutcome
    ) async -> ToolOutcome {
        do {
            return try await body()
        } catch let error as ExecutorError {
            onExecutorFailure(error)
            return .error(error.message)
        } catch let error as ToolArgumentError {
            return .error(error.message + "; see the tool's schema")
        } catch let error as TaskError {
            return .error(error.description)
        } catch is CancellationError {
            return .error("cancelled")
        } catch {
            return .error("\(error)")
        }
    }

    private func newTrackTool(_ arguments: [String: JSONValue]) throws -> ToolOutcome {
        let name = try arguments.string("name")
        guard !state.tracks.contains(where: { $0.name == name }) else {
            return .error("track '\(name)' exists; use switch_track, or choose another name")
        }
        try ledger.record(.trackStarted(name: name, rationale: try arguments.string("rationale")))
        return ToolOutcome("track '\(name)' started and current; its candidates will be labelled '\(name)'")
    }

    private func switchTrackTool(_ arguments: [String: JSONValue]) throws -> ToolOutcome {
        let name = try arguments.string("name")
        guard state.tracks.contains(where: { $0.name == name }) else {
            return .error("no track '\(name)'; tracks: \(state.tracks.map(\.name).joined(separator: ", "))")
        }
        try ledger.record(.trackSwitched(name: name))
        return ToolOutcome("track '\(name)' is current")
    }

    private func probeTool() -> ToolOutcome {
        guard let machine = state.settings?.machine else { return .error("no machine profile") }
        return ToolOutcome(HarnessToolDefinitions.describe(machine))
    }

    /// The best distinct candidates, each once, with how many times it was measured.
    func leaderboardText() -> String {
        let rows = state.rankedCandidates.prefix(10).map { row in
            let candidate = row.candidate
            var line =
                "#\(candidate.record.id) \(candidate.record.design) \(candidate.record.file ?? "-") \(candidate.record.configuration.label): "
                + (candidate.result?.speedupLabel ?? "-")
            if row.evaluations > 1, let low = row.speedups.min(), let high = row.speedups.max() {
                line +=
                    low == high
                    ? String(format: " (evaluated %d times, each %.2fx)", row.evaluations, low)
                    : String(format: " (evaluated %d times: %.2f-%.2fx)", row.evaluations, low, high)
            }
            if candidate.result?.load?.isBusy == true {
                line += " [measured on a busy machine]"
            } else if row.busyEvaluations > 0 {
                line += " [\(row.busyEvaluations) of \(row.evaluations) measured on a busy machine]"
            }
            if let comparison = candidate.result?.comparison {
                line += String(
                    format: " · beside %@ %.2fx: %@",
                    comparison.rival,
                    comparison.ratio,
                    comparison.verdict.rawValue
                )
            }
            return line
        }
        return rows.isEmpty ? "(no correct full-suite evaluation yet)" : rows.joined(separator: "\n")
    }

    /// The budgets used and left, in one line, for the results of evaluate, tune and leaderboard. The
    /// call being answered counts as a tool call already.
    /// - Parameter now: the time to measure the wall time at.
    /// - Returns: the line.
    func budgetLine(now: Date = Date()) -> String {
        let state = self.state
        func part(_ used: Double, of limit: Double?, _ unit: String, format: String = "%.0f") -> String {
            let usedText = String(format: format, used)
            guard let limit else { return "\(unit) \(usedText) (no limit)" }
            return
                "\(unit) \(usedText) of \(String(format: format, limit)) (\(String(format: format, max(limit - used, 0))) left)"
        }
        var parts: [String] = []
        let budgets = state.settings?.agent?.budgets
        if state.settings?.agent != nil {
            parts.append(part(Double(state.agent.toolCalls + 1), of: budgets?.toolCalls.map(Double.init), "tool calls"))
        }
        parts.append(
            part(Double(state.finishedEvaluations), of: state.settings?.maxEvaluations.map(Double.init), "evaluations")
        )
        parts.append(
            part(
                state.elapsed(now: now) / 60,
                of: state.settings?.maxSeconds.map { $0 / 60 },
                "minutes",
                format: "%.1f"
            )
        )
        if state.settings?.agent != nil {
            let tokens = state.agent.inputTokens + state.agent.outputTokens
            parts.append(part(Double(tokens), of: budgets?.tokens.map(Double.init), "tokens"))
            if budgets?.dollars != nil || state.settings?.agent?.prices != nil {
                parts.append(part(state.agent.cost, of: budgets?.dollars, "dollars", format: "%.2f"))
            }
        }
        return "budget: " + parts.joined(separator: " · ")
    }
}
