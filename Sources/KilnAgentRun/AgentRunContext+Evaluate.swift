import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask
import KilnTuner

extension AgentRunContext {
    /// The most fresh evaluations one `evaluate` call may ask for (`repeat`).
    static let maxRepeats = 10

    /// Evaluates a workspace file and journals it as a candidate: of the current track, or of the seed
    /// design when the file is a task's seed unchanged (whatever its name or the current track).
    /// - Parameters:
    ///   - path: the workspace file.
    ///   - settings: tunable values, `NAME=VALUE`.
    ///   - flagSet: the flag set's index.
    ///   - shapes: suite shapes for a partial evaluation; nil for the whole suite.
    ///   - parent: the candidate it derives from; default the best so far.
    ///   - fresh: measure again even when an identical evaluation is in the cache.
    ///   - compareWith: the candidate to time beside it (`compare_with`); nil for the run's best, when a
    ///     full-suite evaluation is made and a timed best exists.
    /// - Returns: the candidate and its result.
    /// - Throws: ``ToolArgumentError``, ``TaskError``, what the ledger throws.
    func evaluate(
        path: String,
        settings: [String],
        flagSet: Int?,
        shapes: [String]?,
        parent: Int? = nil,
        fresh: Bool = false,
        compareWith: Int? = nil
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
            design: isSeed(source) ? Self.seedDesign : state.currentTrack ?? "main",
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
        var options = self.options
        if fresh { options.usesCache = false }
        var request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: "\(path) #\(record.id)",
            configuration: configuration,
            shapes: try task.shapes(named: partial ?? []),
            options: options
        )
        if let compareWith {
            guard let rival = state.candidates[compareWith], let rivalSource = state.settings?.source(of: rival.record)
            else {
                throw ToolArgumentError(
                    message: "there is no candidate #\(compareWith) to compare with; see leaderboard"
                )
            }
            request.rival = Rival(
                name: "#\(compareWith)",
                candidate: compareWith,
                source: rivalSource,
                configuration: rival.record.configuration
            )
        } else if partial == nil {
            request.rival = state.rivalForNextEvaluation(excluding: record.id)
        }
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

    /// The design of a candidate that is one of the task's seeds, unchanged: the track the run's first
    /// evaluation (of the first seed) is journaled under.
    static let seedDesign = "seed"

    /// Whether a source is one of the task's seed designs as given.
    private func isSeed(_ source: String) -> Bool {
        task.seeds.contains { seed in (try? String(contentsOf: task.url(of: seed), encoding: .utf8)) == source }
    }

    /// `evaluate`: one evaluation (from the cache when an identical one was made, unless `fresh`), or
    /// `repeat` fresh ones with their spread.
    func evaluateTool(_ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        let path = try arguments.string("path")
        let settings = (arguments["params"]?.object ?? [:]).sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.string ?? value.text)"
        }
        let shapes = arguments["shapes"]?.array?.compactMap(\.string)
        let flagSet = try arguments.int("flag_set")
        guard arguments["fresh"] == nil || arguments["fresh"] == .null || arguments["fresh"]?.bool != nil else {
            throw ToolArgumentError(message: "argument 'fresh' must be true or false")
        }
        let fresh = arguments["fresh"]?.bool ?? false
        let compareWith = try arguments.int("compare_with")
        let repeats = try arguments.int("repeat")
        if let repeats, !(1...Self.maxRepeats).contains(repeats) {
            throw ToolArgumentError(message: "argument 'repeat' must be 1 to \(Self.maxRepeats), not \(repeats)")
        }
        guard let repeats else {
            let (record, result) = try await evaluate(
                path: path,
                settings: settings,
                flagSet: flagSet,
                shapes: shapes,
                fresh: fresh,
                compareWith: compareWith
            )
            return ToolOutcome(
                EvaluationText.describe(result, candidate: record, best: state.bestSpeedup) + "\n" + budgetLine(),
                isError: !result.correct
            )
        }
        var done: [(CandidateRecord, EvaluationResult)] = []
        var stopped: String?
        for index in 0..<repeats {
            if index > 0, let budget = exhaustedBudget() {
                stopped = "stopped after \(index) of \(repeats): the run's \(budget) budget ran out"
                break
            }
            let (record, result) = try await evaluate(
                path: path,
                settings: settings,
                flagSet: flagSet,
                shapes: shapes,
                fresh: true,
                compareWith: compareWith
            )
            done.append((record, result))
            if !result.correct { break }
        }
        guard let (last, lastResult) = done.last, let (first, _) = done.first else {
            return .error("no evaluation ran")
        }
        if !lastResult.correct {
            let text =
                "repeat \(done.count) of \(repeats) failed:\n"
                + EvaluationText.describe(lastResult, candidate: last, best: state.bestSpeedup)
            return ToolOutcome(text + "\n" + budgetLine(), isError: true)
        }
        var lines = [
            "candidates #\(first.id)-#\(last.id) (\(path), \(last.configuration.label)): correct"
                + (last.shapes != nil ? " on a partial suite (not ranked)" : "")
                + (state.bestSpeedup.map { String(format: " · best so far %.2fx", $0) } ?? "")
        ]
        lines += EvaluationText.repeats(done.map(\.1))
        if let stopped { lines.append(stopped) }
        lines.append(budgetLine())
        return ToolOutcome(lines.joined(separator: "\n"))
    }

    /// `tune`: searches the file's declared tunables; every configuration's speedup or failure reason,
    /// the best one's per-shape figures.
    func tuneTool(_ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        let path = try arguments.string("path")
        let budget = min(max(try arguments.int("budget") ?? 6, 1), 24)
        let strategyName = arguments["strategy"]?.string ?? Strategies.defaultName
        guard let strategy = Strategies.named(strategyName) else {
            return .error("unknown strategy '\(strategyName)'; choose \(Strategies.names.joined(separator: ", "))")
        }
        let source = try standard.workspace.read(path)
        let space = SearchSpace(try TunableSpace.parse(source: source, file: path))
        guard space.size > 1 else {
            return .error(
                "\(path) declares no tunables; add lines like '\(task.backend == .c ? "//" : "#") kiln:tunable BLOCK 32 16 64'"
            )
        }
        var history: [Trial] = []
        var untimed = 0
        var lines: [String] = []
        var best: (record: CandidateRecord, result: EvaluationResult, speedup: Double)?
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
            let outcome =
                result.correct
                ? result.speedupLabel
                : "\(result.verdict.rawValue): \(Self.oneLine(result.failure ?? "no reason given"))"
            if result.correct, score == nil { untimed += 1 }
            lines.append("#\(record.id) \(configuration.label): \(outcome)\(result.isCached ? " (cached)" : "")")
            if let score, score > (best?.speedup ?? 0) { best = (record, result, score) }
        }
        var text = [
            best.map {
                "best: #\($0.record.id) \($0.record.configuration.label) at " + String(format: "%.2fx", $0.speedup)
            }
                ?? (untimed > 0
                    ? "\(untimed) configurations were correct, none timed (this device checks correctness only): nothing to rank"
                    : "no configuration was correct"),
            "tried \(history.count) of \(space.size) configurations (\(strategy.name)):",
        ]
        text += lines
        if let best {
            text.append("best configuration (#\(best.record.id)) per shape:")
            text += best.result.shapes.map(EvaluationText.shapeLine)
        }
        text.append(budgetLine())
        return ToolOutcome(text.joined(separator: "\n"))
    }

    /// A failure reason on one line, at most 300 characters.
    static func oneLine(_ text: String) -> String {
        let joined = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return joined.count > 300 ? joined.prefix(300) + "…" : joined
    }
}
