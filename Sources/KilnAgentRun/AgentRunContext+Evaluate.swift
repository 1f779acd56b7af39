import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask
import KilnTuner
import Synchronization

extension AgentRunContext {
    /// The most fresh evaluations one `evaluate` call may ask for (`repeat`).
    static let maxRepeats = 10

    /// The most candidates one `evaluate` call may run side by side (`candidates`).
    static let maxBatch = 8

    /// One candidate an `evaluate` call asks for: a workspace file at a configuration, on some shapes.
    struct Ask: Sendable {
        var path: String
        var settings: [String]
        var flagSet: Int?
        var shapes: [String]?
        var parent: Int? = nil
        var fresh = false
        var compareWith: Int? = nil
    }

    /// A candidate ready to evaluate: journaled already (`existing`), or to be journaled under the next id.
    private struct Prepared: Sendable {
        var record: CandidateRecord
        var existing: Bool
        var request: EvaluationRequest
        var isRanked: Bool
        /// Its result, when an interrupted call's re-run finds it already finished.
        var finished: EvaluationResult?
    }

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
    ///   - claimed: candidates this tool call already took up (an interrupted call's re-run takes up each
    ///     of its candidates once).
    /// - Returns: the candidate and its result.
    /// - Throws: ``ToolArgumentError``, ``TaskError``, what the ledger throws.
    func evaluate(
        path: String,
        settings: [String],
        flagSet: Int?,
        shapes: [String]?,
        parent: Int? = nil,
        fresh: Bool = false,
        compareWith: Int? = nil,
        claimed: inout Set<Int>
    ) async throws -> (CandidateRecord, EvaluationResult) {
        var ask = Ask(path: path, settings: settings, flagSet: flagSet, shapes: shapes, parent: parent, fresh: fresh)
        ask.compareWith = compareWith
        let prepared = try prepare(ask, claimed: &claimed)
        return try await run(prepared)
    }

    /// Evaluates one candidate (see ``evaluate(path:settings:flagSet:shapes:parent:fresh:compareWith:claimed:)``), as the
    /// only one of its tool call.
    func evaluate(
        path: String,
        settings: [String],
        flagSet: Int?,
        shapes: [String]?
    ) async throws -> (CandidateRecord, EvaluationResult) {
        var claimed: Set<Int> = []
        return try await evaluate(path: path, settings: settings, flagSet: flagSet, shapes: shapes, claimed: &claimed)
    }

    /// Evaluates several candidates side by side, each through the ledger (on as many of the executor's
    /// slots as are free; the local executor runs them one after another).
    /// - Parameter asks: the candidates.
    /// - Returns: each candidate and its result, in the order asked.
    /// - Throws: ``ToolArgumentError`` or ``TaskError`` (before anything is journaled); what the ledger
    ///   throws.
    func evaluate(batch asks: [Ask]) async throws -> [(CandidateRecord, EvaluationResult)] {
        var claimed: Set<Int> = []
        var prepared: [Prepared] = []
        for ask in asks { prepared.append(try prepare(ask, claimed: &claimed)) }
        // Journal the new candidates in the order asked, then evaluate them all at once.
        for index in prepared.indices where !prepared[index].existing {
            let draft = prepared[index].record
            prepared[index].record = try ledger.createCandidate { id in
                var record = draft
                record.id = id
                return record
            }
            prepared[index].existing = true
        }
        return try await withThrowingTaskGroup(of: (Int, CandidateRecord, EvaluationResult).self) { group in
            for (index, item) in prepared.enumerated() {
                group.addTask {
                    let (record, result) = try await self.run(item)
                    return (index, record, result)
                }
            }
            var done: [(Int, CandidateRecord, EvaluationResult)] = []
            for try await item in group { done.append(item) }
            return done.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
        }
    }

    /// Reads, parses and checks what a call asks for, and finds the candidate an interrupted earlier
    /// attempt of the same call made for it.
    private func prepare(_ ask: Ask, claimed: inout Set<Int>) throws -> Prepared {
        let source = try standard.workspace.read(ask.path)
        let space = try TunableSpace.parse(source: source, file: ask.path)
        let configuration = try space.configuration(
            settings: ask.settings,
            flagSet: ask.flagSet,
            allowUndeclaredValues: true
        )
        let suiteNames = Set(task.suite.map(\.name))
        if let shapes = ask.shapes, let unknown = shapes.first(where: { !suiteNames.contains($0) }) {
            throw ToolArgumentError(
                message:
                    "'\(unknown)' is not a suite shape; the suite is \(task.suite.map(\.name).joined(separator: ", "))"
            )
        }
        let partial = ask.shapes.flatMap { Set($0) == suiteNames ? nil : $0 }
        let state = self.state
        var record = CandidateRecord(
            id: 0,
            design: isSeed(source) ? Self.seedDesign : state.currentTrack ?? "main",
            point: -1,
            configuration: configuration,
            parent: ask.parent ?? state.best,
            file: ask.path,
            source: source,
            shapes: partial
        )
        // A call interrupted by a crash is re-run: each of its candidates is taken up again, not made twice
        // (one that finished keeps its result). Only that call's: a later call evaluates afresh.
        var existing = false
        var finished: EvaluationResult?
        let resumable = self.resumable.withLock { $0 }
        if let match = state.openCandidates.lazy.compactMap({ state.candidates[$0] }).first(where: { candidate in
            !claimed.contains(candidate.record.id)
                && (candidate.result == nil || resumable.contains(candidate.record.id))
                && candidate.record.source == source && candidate.record.configuration == configuration
                && candidate.record.shapes == partial
        }) {
            record = match.record
            existing = true
            finished = match.result
            claimed.insert(match.record.id)
            _ = self.resumable.withLock { $0.remove(match.record.id) }
        }
        var options = self.options
        if ask.fresh { options.usesCache = false }
        var request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: ask.path,
            configuration: configuration,
            shapes: try task.shapes(named: partial ?? []),
            options: options
        )
        if let compareWith = ask.compareWith {
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
            // The run's best as it stands now, bundled with the evaluation so that a node times both in the
            // same pairs.
            request.rival = state.rivalForNextEvaluation(excluding: record.id)
        }
        return Prepared(
            record: record,
            existing: existing,
            request: request,
            isRanked: partial == nil,
            finished: finished
        )
    }

    /// Journals (when new) and evaluates a prepared candidate through the ledger.
    private func run(_ prepared: Prepared) async throws -> (CandidateRecord, EvaluationResult) {
        if let finished = prepared.finished { return (prepared.record, finished) }
        var record = prepared.record
        if !prepared.existing {
            let draft = record
            record = try ledger.createCandidate { id in
                var record = draft
                record.id = id
                return record
            }
        }
        var request = prepared.request
        request.candidateName = "\(request.candidateName) #\(record.id)"
        let result = try await ledger.evaluate(
            record,
            isNew: false,
            request: request,
            isRanked: prepared.isRanked,
            using: executor,
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
        if let batch = arguments["candidates"], batch != .null { return try await batchTool(batch, arguments) }
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
            var claimed: Set<Int> = []
            let (record, result) = try await evaluate(
                path: path,
                settings: settings,
                flagSet: flagSet,
                shapes: shapes,
                fresh: fresh,
                compareWith: compareWith,
                claimed: &claimed
            )
            return ToolOutcome(
                EvaluationText.describe(result, candidate: record, best: state.bestSpeedup) + "\n" + budgetLine(),
                isError: !result.correct
            )
        }
        var done: [(CandidateRecord, EvaluationResult)] = []
        var stopped: String?
        var claimed: Set<Int> = []
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
                compareWith: compareWith,
                claimed: &claimed
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

    /// `evaluate` with `candidates`: several candidates side by side, each described as a single one is.
    private func batchTool(_ batch: JSONValue, _ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        guard arguments["path"] == nil || arguments["path"] == .null, arguments["repeat"] == nil else {
            throw ToolArgumentError(message: "give either 'path' (with 'repeat') or 'candidates', not both")
        }
        guard let items = batch.array, !items.isEmpty, items.count <= Self.maxBatch else {
            throw ToolArgumentError(
                message: "argument 'candidates' must be a list of 1 to \(Self.maxBatch) objects, each with a 'path'"
            )
        }
        var asks: [Ask] = []
        for (index, item) in items.enumerated() {
            guard let object = item.object else {
                throw ToolArgumentError(message: "candidates[\(index)] must be an object with a 'path'")
            }
            let settings = (object["params"]?.object ?? [:]).sorted { $0.key < $1.key }.map { key, value in
                "\(key)=\(value.string ?? value.text)"
            }
            asks.append(
                Ask(
                    path: try object.string("path"),
                    settings: settings,
                    flagSet: try object.int("flag_set"),
                    shapes: object["shapes"]?.array?.compactMap(\.string),
                    fresh: object["fresh"]?.bool ?? arguments["fresh"]?.bool ?? false,
                    compareWith: try object.int("compare_with") ?? arguments.int("compare_with")
                )
            )
        }
        if let max = state.settings?.maxEvaluations {
            let left = max - state.finishedEvaluations
            guard left >= asks.count else {
                return .error(
                    "the run's evaluation budget has \(Swift.max(left, 0)) left; ask for at most that many candidates"
                )
            }
        }
        let done = try await evaluate(batch: asks)
        var sections = done.map { record, result in
            EvaluationText.describe(result, candidate: record, best: state.bestSpeedup)
        }
        let failed = done.filter { !$0.1.correct }.count
        sections.insert(
            "\(done.count) candidates evaluated side by side: \(done.count - failed) correct, \(failed) not",
            at: 0
        )
        return ToolOutcome(sections.joined(separator: "\n\n") + "\n" + budgetLine(), isError: failed == done.count)
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
        var claimed: Set<Int> = []
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
                shapes: nil,
                claimed: &claimed
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
