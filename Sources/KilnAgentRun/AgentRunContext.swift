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

    var definitions: [ToolDefinition] {
        standard.definitions + [
            ToolDefinition(
                name: "evaluate",
                description:
                    "Build a candidate C file of the workspace, check it against the hidden oracle on fresh inputs and time it against the baseline on the suite (or some suite shapes). Returns errors first, then per-shape speedups.",
                parameters: [
                    "type": "object",
                    "properties": [
                        "path": ["type": "string", "description": "the candidate file"],
                        "params": ["type": "object", "description": "tunable values, NAME: VALUE"],
                        "flag_set": ["type": "integer", "description": "index of a declared flag set"],
                        "shapes": [
                            "type": "array", "items": ["type": "string"],
                            "description": "suite shape names (default all; partial evaluations are not ranked)",
                        ],
                    ],
                    "required": ["path"],
                ]
            ),
            ToolDefinition(
                name: "tune",
                description:
                    "Search the tunables a candidate declares (// kiln:tunable, // kiln:flags) with Kiln's tuner, spending up to `budget` evaluations; returns the best configuration.",
                parameters: [
                    "type": "object",
                    "properties": [
                        "path": ["type": "string", "description": "the candidate file"],
                        "budget": ["type": "integer", "description": "evaluations, 1-24 (default 6)"],
                        "strategy": [
                            "type": "string", "description": .string(Strategies.names.joined(separator: " | ")),
                        ],
                    ],
                    "required": ["path"],
                ]
            ),
            ToolDefinition(
                name: "probe",
                description: "The machine's measured peak FMA rate, memory bandwidth and caches.",
                parameters: ["type": "object", "properties": [:]]
            ),
            ToolDefinition(
                name: "leaderboard",
                description: "The best correct candidates so far (full-suite evaluations).",
                parameters: ["type": "object", "properties": [:]]
            ),
            ToolDefinition(
                name: "new_track",
                description: "Start a new design track (an architectural redesign); later candidates belong to it.",
                parameters: [
                    "type": "object",
                    "properties": [
                        "name": ["type": "string", "description": "a short name"],
                        "rationale": ["type": "string", "description": "why this design should be faster"],
                    ],
                    "required": ["name", "rationale"],
                ]
            ),
            ToolDefinition(
                name: "switch_track",
                description: "Make an existing design track current.",
                parameters: [
                    "type": "object", "properties": ["name": ["type": "string", "description": "the track"]],
                    "required": ["name"],
                ]
            ),
            ToolDefinition(
                name: "finish",
                description: "End the run with a summary of what was tried and learned.",
                parameters: [
                    "type": "object", "properties": ["summary": ["type": "string", "description": "the summary"]],
                    "required": ["summary"],
                ]
            ),
        ]
    }

    func run(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        if let outcome = await standard.run(name, arguments: arguments) { return outcome }
        do {
            switch name {
            case "evaluate": return try await evaluateTool(arguments)
            case "tune": return try await tuneTool(arguments)
            case "probe": return probeTool()
            case "leaderboard": return ToolOutcome(leaderboardText())
            case "new_track":
                let name = try arguments.string("name")
                guard !state.tracks.contains(where: { $0.name == name }) else {
                    return .error("track '\(name)' exists; use switch_track, or choose another name")
                }
                try ledger.record(.trackStarted(name: name, rationale: try arguments.string("rationale")))
                return ToolOutcome("track '\(name)' started and current; its candidates will be labelled '\(name)'")
            case "switch_track":
                let name = try arguments.string("name")
                guard state.tracks.contains(where: { $0.name == name }) else {
                    return .error("no track '\(name)'; tracks: \(state.tracks.map(\.name).joined(separator: ", "))")
                }
                try ledger.record(.trackSwitched(name: name))
                return ToolOutcome("track '\(name)' is current")
            case "finish":
                let summary = try arguments.string("summary")
                return ToolOutcome("finishing", finishes: summary)
            default:
                return .error("there is no tool '\(name)'")
            }
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
        return ToolOutcome(
            "cpu: \(machine.cpuModel) (\(machine.simd), \(machine.threads) threads)\n"
                + String(
                    format:
                        "fp32 FMA peak: %.0f GFLOP/s one core, %.0f all cores\nSTREAM triad: %.1f GB/s one thread, %.1f all\ncaches: L1d %d KiB, L2 %d KiB, L3 %d KiB",
                    machine.peakGflops1,
                    machine.peakGflopsAll,
                    machine.bandwidthGbs1,
                    machine.bandwidthGbsAll,
                    machine.l1dBytes >> 10,
                    machine.l2Bytes >> 10,
                    machine.l3Bytes >> 10
                )
        )
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
                line += "WRONG: \(shape.failure ?? "")"
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
            } else {
                line += shape.correct == true ? "correct" : "not reached"
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
