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
    let evaluator: Evaluator
    let standard: StandardTools
    let options: EvaluationOptions
    let progress: @Sendable (RunProgress) -> Void
    let retries = Mutex<[String]>([])

    init(
        ledger: Ledger,
        task: KernelTask,
        evaluator: Evaluator,
        workspace: Workspace,
        sandbox: Sandbox,
        options: EvaluationOptions,
        progress: @escaping @Sendable (RunProgress) -> Void
    ) {
        self.ledger = ledger
        self.task = task
        self.evaluator = evaluator
        self.standard = StandardTools(workspace: workspace, sandbox: sandbox)
        self.options = options
        self.progress = progress
    }

    var state: RunState { ledger.state }

    // MARK: - AgentHost

    func record(_ event: AgentEvent) throws {
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
        await registry.run(name, arguments: arguments)
    }

    /// The harness's tools over this run: evaluate, tune, probe, leaderboard, design tracks, finish.
    var harnessTools: [Tool] {
        func tool(
            _ definition: ToolDefinition,
            _ body: @escaping @Sendable (AgentRunContext, [String: JSONValue]) async throws -> ToolOutcome
        ) -> Tool {
            Tool(definition) { [self] arguments in await Self.guarded { try await body(self, arguments) } }
        }
        return [
            tool(HarnessToolDefinitions.evaluate) { try await $0.evaluateTool($1) },
            tool(HarnessToolDefinitions.tune) { try await $0.tuneTool($1) },
            tool(HarnessToolDefinitions.probe) { context, _ in context.probeTool() },
            tool(HarnessToolDefinitions.leaderboard) { context, _ in ToolOutcome(context.leaderboardText()) },
            tool(HarnessToolDefinitions.newTrack) { try $0.newTrackTool($1) },
            tool(HarnessToolDefinitions.switchTrack) { try $0.switchTrackTool($1) },
            tool(HarnessToolDefinitions.finish) { _, arguments in
                ToolOutcome("finishing", finishes: try arguments.string("summary"))
            },
        ]
    }

    /// Runs a tool body; its failures become outcomes the model can act on.
    private static func guarded(_ body: () async throws -> ToolOutcome) async -> ToolOutcome {
        do {
            return try await body()
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

    /// Evaluates a workspace file and journals it as a candidate of the current track.
    func evaluate(
        path: String,
        settings: [String],
        flagSet: Int?,
        shapes: [String]?,
        parent: Int? = nil
    ) async throws -> (CandidateRecord, EvaluationResult) {
        let source = try standard.workspace.read(path)
        let space = try TunableSpace.parse(source: source, file: path)
        let configuration = try space.configuration(settings: settings, flagSet: flagSet, allowUndeclaredValues: true)
        let suiteNames = Set(task.suite.map(\.name))
        if let shapes, let unknown = shapes.first(where: { !suiteNames.contains($0) }) {
            throw ToolArgumentError(
                message:
                    "'\(unknown)' is not a suite shape; the suite is \(task.suite.map(\.name).joined(separator: ", "))"
            )
        }
        let partial = shapes.flatMap { Set($0) == suiteNames ? nil : $0 }
        var record = CandidateRecord(
            id: (state.order.last ?? 0) + 1,
            design: state.currentTrack ?? "main",
            point: -1,
            configuration: configuration,
            parent: parent ?? state.best,
            file: path,
            source: source,
            shapes: partial
        )
        // A call interrupted by a crash is re-run: the same candidate, not a second one.
        var isNew = true
        if let last = state.order.last.flatMap({ state.candidates[$0] }), last.result == nil,
            last.record.source == source, last.record.configuration == configuration, last.record.shapes == partial
        {
            record = last.record
            isNew = false
        }
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: "\(path) #\(record.id)",
            configuration: configuration,
            shapes: try task.shapes(named: partial ?? []),
            options: options
        )
        let result = try await ledger.evaluate(
            record,
            isNew: isNew,
            request: request,
            isRanked: partial == nil,
            using: evaluator,
            progress: progress
        )
        return (record, result)
    }

    private func evaluateTool(_ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        let path = try arguments.string("path")
        let settings = (arguments["params"]?.object ?? [:]).sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.string ?? value.text)"
        }
        let shapes = arguments["shapes"]?.array?.compactMap(\.string)
        let (record, result) = try await evaluate(
            path: path,
            settings: settings,
            flagSet: try arguments.int("flag_set"),
            shapes: shapes
        )
        return ToolOutcome(Self.describe(result, candidate: record, best: state.bestSpeedup), isError: !result.correct)
    }

    private func tuneTool(_ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        let path = try arguments.string("path")
        let budget = min(max(try arguments.int("budget") ?? 6, 1), 24)
        let strategyName = arguments["strategy"]?.string ?? Strategies.defaultName
        guard let strategy = Strategies.named(strategyName) else {
            return .error("unknown strategy '\(strategyName)'; choose \(Strategies.names.joined(separator: ", "))")
        }
        let source = try standard.workspace.read(path)
        let space = SearchSpace(try TunableSpace.parse(source: source, file: path))
        guard space.size > 1 else {
            return .error("\(path) declares no tunables; add lines like '// kiln:tunable BLOCK 32 16 64'")
        }
        var history: [Trial] = []
        var lines: [String] = []
        var best: (CandidateRecord, Double)?
        let seed = state.settings?.seed ?? 1
        while history.count < budget, let point = strategy.propose(space: space, history: history, seed: seed) {
            if let remaining = exhaustedBudget() {
                lines.append("stopped: the run's \(remaining) budget ran out")
                break
            }
            let configuration = space.configuration(at: point)
            let settings = configuration.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let (record, result) = try await evaluate(
                path: path,
                settings: settings,
                flagSet: configuration.flagSet,
                shapes: nil
            )
            let score = result.correct ? result.geomeanSpeedup : nil
            history.append(Trial(index: point, score: score))
            lines.append(
                "#\(record.id) \(configuration.label): "
                    + (score.map { String(format: "%.2fx", $0) } ?? "\(result.verdict.rawValue)")
            )
            if let score, score > (best?.1 ?? 0) { best = (record, score) }
        }
        let head =
            best.map { "best: #\($0.0.id) \($0.0.configuration.label) at " + String(format: "%.2fx", $0.1) }
            ?? "no configuration was correct"
        return ToolOutcome(
            "\(head)\ntried \(history.count) of \(space.size) configurations (\(strategy.name)):\n"
                + lines.joined(separator: "\n")
        )
    }

    private func probeTool() -> ToolOutcome {
        guard let machine = state.settings?.machine else { return .error("no machine profile") }
        return ToolOutcome(HarnessToolDefinitions.describe(machine))
    }

    func leaderboardText() -> String {
        let rows = state.leaderboard.prefix(10).map { candidate in
            "#\(candidate.record.id) \(candidate.record.design) \(candidate.record.file ?? "-") \(candidate.record.configuration.label): "
                + String(format: "%.2fx", candidate.result?.geomeanSpeedup ?? 0)
        }
        return rows.isEmpty ? "(no correct full-suite evaluation yet)" : rows.joined(separator: "\n")
    }

    /// An evaluation as the model sees it: the verdict and errors first, then per-shape figures.
    static func describe(_ result: EvaluationResult, candidate: CandidateRecord, best: Double?) -> String {
        var lines = ["candidate #\(candidate.id) (\(candidate.file ?? "?"), \(candidate.configuration.label))"]
        if !result.correct {
            lines.append("FAILED (\(result.verdict.rawValue)): \(result.failure ?? "")")
            if result.verdict == .buildFailed { lines.append(ToolText.capped(result.buildLog, limit: 2500)) }
        } else if let geomean = result.geomeanSpeedup {
            lines.append(
                String(format: "correct · geometric-mean speedup %.2fx", geomean)
                    + (candidate.shapes != nil ? " on a partial suite (not ranked)" : "")
                    + (best.map { String(format: " · best so far %.2fx", $0) } ?? "")
            )
        }
        for shape in result.shapes {
            var line = "\(shape.name): "
            if shape.correct == false {
                line += "\(shape.failureLabel): \(shape.failure ?? "")"
            } else if let speedup = shape.speedup {
                line += String(
                    format:
                        "%.2fx (IQR %.2f-%.2f) baseline %.3g ms, candidate %.3g ms, %.1f GFLOP/s, %.1f%% of peak, max err %.1e",
                    speedup,
                    shape.speedupLow ?? 0,
                    shape.speedupHigh ?? 0,
                    (shape.baselineSeconds ?? 0) * 1e3,
                    (shape.candidateSeconds ?? 0) * 1e3,
                    shape.gflops ?? 0,
                    (shape.fractionOfPeak ?? 0) * 100,
                    shape.maxAbsError ?? 0
                )
                line += shape.measurementSuffix
            } else {
                line += shape.correct == true ? "correct" : "not reached"
            }
            lines.append(line)
        }
        if let load = result.load { lines.append("machine load: \(load.note)") }
        return lines.joined(separator: "\n")
    }
}
