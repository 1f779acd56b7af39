import Foundation
import KilnCore
package import KilnHarness
package import KilnTask
import KilnTuner

/// What a run is asked to do.
package struct RunOptions: Sendable, Hashable {
    /// The search strategy's name.
    package var strategy = Strategies.defaultName
    /// The seed of every random choice; nil draws one.
    package var seed: UInt64?
    /// The most wall time over all parts of the run, seconds.
    package var maxSeconds: Double? = 300
    /// The most evaluations.
    package var maxEvaluations: Int?
    /// Fewest timed pairs per shape in each evaluation.
    package var minPairs = 3
    /// Most timed pairs per shape in each evaluation.
    package var maxPairs = 6
    /// Evaluations the tuner keeps in flight; nil for the executor's slots.
    package var parallelism: Int?
    /// The node kind the winner is re-measured on (a cluster's runs); nil for the kind of the node that
    /// measured the run's first result.
    package var referenceKind: String?

    /// Creates options with the defaults: the default strategy, five minutes.
    package init() {}
}

/// Something a run reports as it goes, for the progress line and logs.
package enum RunProgress: Sendable {
    /// A candidate's evaluation began.
    case evaluating(candidate: CandidateRecord, state: RunState)
    /// A candidate's evaluation ended.
    case evaluated(candidate: CandidateRecord, result: EvaluationResult, state: RunState)
    /// A budget ran out.
    case budgetExhausted(String)
    /// The best candidate is being checked on the held-out shapes.
    case checkingHeldout(candidate: Int)
    /// A tool call of the model finished.
    case toolFinished(name: String, summary: String, state: RunState)
    /// This process's part of the run ended: its wall time and where it went.
    case partFinished(PartTimes)
}

/// Where one part of a run (one process's) spent its wall time, seconds. What is left after
/// evaluations, the model and the workspace tools is Kiln's own bookkeeping (journal, tuner, progress).
package struct PartTimes: Sendable, Hashable {
    /// The part's wall time.
    package var wallSeconds: Double
    /// Inside the evaluator.
    package var evaluationSeconds: Double
    /// Waiting for the model (agent runs): requests, retries, compaction summaries.
    package var modelSeconds: Double
    /// Running the model's workspace tools (agent runs): files, the shell, notes.
    package var toolSeconds: Double

    /// Creates the times.
    /// - Parameters:
    ///   - wallSeconds: the part's wall time.
    ///   - evaluationSeconds: inside the evaluator.
    ///   - modelSeconds: waiting for the model.
    ///   - toolSeconds: running workspace tools.
    package init(wallSeconds: Double, evaluationSeconds: Double, modelSeconds: Double = 0, toolSeconds: Double = 0) {
        self.wallSeconds = wallSeconds
        self.evaluationSeconds = evaluationSeconds
        self.modelSeconds = modelSeconds
        self.toolSeconds = toolSeconds
    }

    /// Kiln's own time: the wall time less evaluations, the model and the tools.
    package var bookkeepingSeconds: Double {
        max(wallSeconds - evaluationSeconds - modelSeconds - toolSeconds, 0)
    }
}

/// Runs the tuner over a task's seed designs, journaling every step, until a budget runs out, the
/// search spaces are exhausted, or it is cancelled; then checks the winner on the held-out shapes and
/// writes the winner file and the report.
package struct RunOrchestrator: Sendable {
    /// The runs folder.
    package var store: RunStore
    /// The evaluator: its cache, its sandbox, and how this machine prepares a task (its cache makes
    /// re-running an interrupted evaluation cheap).
    package var evaluator: Evaluator
    /// Where evaluations run: here (the evaluator, one at a time), or on a cluster.
    package var executor: any EvaluationExecutor

    /// Creates an orchestrator.
    /// - Parameters:
    ///   - store: the runs folder.
    ///   - evaluator: the evaluator.
    ///   - executor: where evaluations run; default here, through `evaluator`.
    package init(store: RunStore, evaluator: Evaluator, executor: (any EvaluationExecutor)? = nil) {
        self.store = store
        self.evaluator = evaluator
        self.executor = executor ?? LocalExecutor(evaluator: evaluator)
    }

    /// Whether evaluations run elsewhere than here.
    var isRemote: Bool { !(executor is LocalExecutor) }

    /// Starts a new run.
    /// - Parameters:
    ///   - task: the task.
    ///   - taskPath: the task folder as the user gave it.
    ///   - options: budgets and strategy.
    ///   - progress: called as the run goes.
    /// - Returns: the run's id and its final state.
    /// - Throws: ``RunError``, ``HarnessError`` or ``TaskError`` when Kiln, the task or the folder is at fault.
    package func start(
        task: KernelTask,
        taskPath: String,
        options: RunOptions,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) async throws -> (id: String, state: RunState) {
        guard Strategies.named(options.strategy) != nil else {
            throw RunError(
                .notResumable,
                "unknown strategy '\(options.strategy)'; choose one of \(Strategies.names.joined(separator: ", "))"
            )
        }
        guard !task.seeds.isEmpty else {
            throw RunError(
                .notResumable,
                "task '\(task.name)' has no seed designs; a run without a model tunes the task's seeds (add 'seeds' to task.toml)"
            )
        }
        var designs: [RunSettings.Design] = []
        for path in task.seeds {
            let source: String
            do {
                source = try String(contentsOf: task.url(of: path), encoding: .utf8)
            } catch {
                throw RunError(.io, "cannot read the seed design \(path)", underlying: error)
            }
            let space = try TunableSpace.parse(source: source, file: path)
            let name = URL(filePath: path).deletingPathExtension().lastPathComponent
            designs.append(.init(name: name, path: path, source: source, spaceSize: space.size))
        }
        let (id, lock, journal, _) = try await createRun(
            task: task,
            taskPath: taskPath,
            options: options,
            designs: designs,
            proposer: "tuner"
        )
        let state = try await drive(id: id, journal: journal, task: task, progress: progress)
        withExtendedLifetime(lock) {}
        return (id, state)
    }

    /// Continues a stopped, interrupted or killed run where it stopped.
    /// - Parameters:
    ///   - id: the run's id (or a unique prefix).
    ///   - progress: called as the run goes.
    /// - Returns: the run's full id and its final state.
    /// - Throws: ``RunError`` when the run is unknown, locked, finished or its task changed.
    package func resume(_ id: String, progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) async throws
        -> (id: String, state: RunState)
    {
        let (id, lock, journal, task) = try reopen(id)
        let state = try await drive(id: id, journal: journal, task: task, progress: progress)
        withExtendedLifetime(lock) {}
        return (id, state)
    }

    /// Makes a new run: measures (or reads) the machine, creates the run's folder, takes its lock,
    /// and creates its journal holding `started` with the run's settings (atomically: a kill at any
    /// moment leaves either no run or a resumable one).
    /// - Parameters:
    ///   - task: the task.
    ///   - taskPath: the task folder as given.
    ///   - options: budgets, strategy, seed and timing.
    ///   - designs: the designs tuned (none for agent and MCP runs).
    ///   - proposer: who proposes candidates: `tuner`, `mcp`, or the agent's label.
    ///   - agent: the agent's settings, for agent runs.
    /// - Returns: the run's id, its lock (held while the caller writes), its journal and its settings.
    /// - Throws: ``RunError`` when the folder, lock or journal cannot be made, or what the probe throws.
    package func createRun(
        task: KernelTask,
        taskPath: String,
        options: RunOptions,
        designs: [RunSettings.Design] = [],
        proposer: String,
        agent: AgentSettings? = nil
    ) async throws -> (id: String, lock: RunLock, journal: Journal, settings: RunSettings) {
        let machine = try await MachineProbe(cacheDirectory: evaluator.cacheDirectory, compiler: task.build.compiler)
            .profile()
        let id = try store.create(taskName: task.name)
        let lock = try RunLock(folder: store.folder(of: id), runID: id)
        var settings = RunSettings(
            id: id,
            taskPath: taskPath,
            taskName: task.name,
            taskHash: task.contentHash,
            designs: designs,
            strategy: options.strategy,
            seed: options.seed ?? UInt64.random(in: 0...UInt64.max),
            maxSeconds: options.maxSeconds,
            maxEvaluations: options.maxEvaluations,
            minPairs: options.minPairs,
            maxPairs: options.maxPairs,
            proposer: proposer,
            machine: machine,
            kilnVersion: KilnRun.version,
            agent: agent
        )
        settings.executor = isRemote ? executor.label : nil
        let parallelism = max(options.parallelism ?? executor.slots, 1)
        settings.parallelism = parallelism > 1 ? parallelism : nil
        settings.referenceKind = options.referenceKind
        // The run exists (for `kiln runs`, `resume` and the dashboard) once its journal does, and
        // its journal exists only with its `started` event in it.
        let journal = try Journal.create(at: store.journalURL(of: id), startingWith: .started(settings))
        return (id, lock, journal, settings)
    }

    /// Opens a stopped run to continue it: takes its lock, checks it has not finished and that its
    /// task has not changed, and journals the new part.
    package func reopen(_ id: String) throws -> (id: String, lock: RunLock, journal: Journal, task: KernelTask) {
        let id = try store.resolve(id)
        let lock = try RunLock(folder: store.folder(of: id), runID: id)
        let journal = try Journal(url: store.journalURL(of: id))
        let existing = RunState(entries: try journal.entries())
        guard let settings = existing.settings else {
            throw RunError(.corrupt, "run \(id) has no start event; it cannot be resumed")
        }
        if existing.outcome != nil {
            throw RunError(.notResumable, "run \(id) has already finished; see 'kiln show \(id)'")
        }
        let task = try KernelTask.load(from: URL(filePath: settings.taskPath))
        guard task.contentHash == settings.taskHash else {
            throw RunError(
                .notResumable,
                "the task at \(settings.taskPath) changed since run \(id) started; resuming would mix results of two tasks"
            )
        }
        try journal.append(.resumed(pid: getpid()))
        return (id, lock, journal, task)
    }

    package func evaluationOptions(_ settings: RunSettings, heldout: Bool = false) -> EvaluationOptions {
        var options = EvaluationOptions()
        options.minPairs = settings.minPairs
        options.maxPairs = settings.maxPairs
        options.shapeTimeBudget = .seconds(3)
        return options
    }

    /// A measurement of a candidate on the whole suite that the cache may not answer (the end-of-run
    /// measurements).
    private func freshSuiteRequest(
        _ record: CandidateRecord,
        source: String,
        name: String,
        task: KernelTask,
        settings: RunSettings
    ) -> EvaluationRequest {
        var options = evaluationOptions(settings)
        options.usesCache = false
        // Extra evidence, journaled as `remeasured`: the candidate's cached result stays the one its
        // evaluation journaled, so that a resumed or repeated run is answered with that.
        options.storesResult = false
        return EvaluationRequest(
            task: task,
            source: source,
            candidateName: name,
            configuration: record.configuration,
            shapes: task.suite,
            options: options
        )
    }

    // MARK: - The end

    /// Checks the best candidates on the held-out shapes (best first, until one passes), re-measures the
    /// one that passes on the run's reference node kind when a node of another kind measured it, writes
    /// the winner and the report, and journals the outcome; returns false when the run was cancelled.
    package func finish(
        reason: String,
        ledger: Ledger,
        task: KernelTask,
        id: String,
        progress: @Sendable (RunProgress) -> Void
    ) async throws -> Bool {
        guard let settings = ledger.state.settings else { return true }
        // The leader is measured again beside the runner-up, in the same pairs, before it is declared.
        guard try await remeasureLeader(ledger: ledger, task: task, settings: settings) else { return false }
        let state = ledger.state
        var winner: Int? = nil
        var winnerSpeedup: Double? = nil
        let reference = state.referenceKind
        for candidate in state.confirmedLeaderboard.prefix(5) {
            guard let source = settings.source(of: candidate.record) else { continue }
            if !task.heldout.isEmpty {
                var heldout = candidate.heldout
                if heldout == nil {
                    progress(.checkingHeldout(candidate: candidate.record.id))
                    let request = EvaluationRequest(
                        task: task,
                        source: source,
                        candidateName: "\(candidate.record.design) #\(candidate.record.id) (held-out)",
                        configuration: candidate.record.configuration,
                        shapes: task.heldout,
                        options: evaluationOptions(settings)
                    )
                    do {
                        let result = try await ledger.timing { try await executor.evaluate(request) }
                        try ledger.record(.heldoutChecked(candidate: candidate.record.id, result: result))
                        heldout = result
                    } catch is CancellationError {
                        return false
                    }
                    if Task.isCancelled { return false }
                }
                guard heldout?.correct == true else { continue }
            }
            // A speedup is declared as measured on the reference kind: measure it there when another kind did.
            guard let result = candidate.result else { continue }
            var declared = result
            if let reference, result.nodeKind != reference {
                if let measured = candidate.reference {
                    declared = measured
                } else if let remeasured = candidate.remeasured, remeasured.nodeKind == reference {
                    // The end-of-run measurement beside the runner-up ran on the reference kind.
                    declared = remeasured
                } else if let node = state.node(ofKind: reference, alive: liveNodes) {
                    let request = freshSuiteRequest(
                        candidate.record,
                        source: source,
                        name: "\(candidate.record.design) #\(candidate.record.id) (on \(reference))",
                        task: task,
                        settings: settings
                    )
                    do {
                        declared = try await ledger.timing {
                            try await executor.evaluate(request, placement: .node(node.id))
                        }
                        try ledger.record(.winnerRemeasured(candidate: candidate.record.id, result: declared))
                    } catch is CancellationError {
                        return false
                    }
                    if Task.isCancelled { return false }
                }
                guard declared.correct else { continue }
            }
            winner = candidate.record.id
            winnerSpeedup = declared.geomeanSpeedup
            break
        }
        let checked = ledger.state
        var outcome = RunOutcome(
            reason: reason,
            best: checked.best,
            winner: winner,
            winnerSpeedup: winnerSpeedup,
            winnerFile: nil,
            reportFile: nil
        )
        outcome.referenceKind = winner == nil ? nil : reference
        let folder = store.folder(of: id)
        if let winner, let candidate = checked.candidates[winner], let source = settings.source(of: candidate.record) {
            let text = WinnerFile.render(candidate: candidate, source: source, settings: settings, task: task)
            let name = WinnerFile.name(for: task)
            try writeFile(text, to: folder.appending(path: name))
            outcome.winnerFile = name
        }
        outcome.reportFile = "report.html"
        var final = checked
        final.outcome = outcome
        try writeReport(final, id: id)
        try ledger.record(.finished(outcome))
        return true
    }

    /// Measures the leaderboard's first candidate again beside its second (fresh inputs, no cache) and
    /// journals it as `remeasured`; returns false when cancelled. Nothing to do without two timed
    /// candidates, or when it was journaled before a resume.
    private func remeasureLeader(ledger: Ledger, task: KernelTask, settings: RunSettings) async throws -> Bool {
        let board = ledger.state.leaderboard
        guard board.count >= 2, let first = board.first, first.remeasured == nil,
            first.result?.geomeanSpeedup != nil, let source = settings.source(of: first.record),
            let rivalSource = settings.source(of: board[1].record)
        else { return true }
        var request = freshSuiteRequest(
            first.record,
            source: source,
            name: "\(first.record.design) #\(first.record.id) (beside #\(board[1].record.id))",
            task: task,
            settings: settings
        )
        request.rival = Rival(
            name: "#\(board[1].record.id)",
            candidate: board[1].record.id,
            source: rivalSource,
            configuration: board[1].record.configuration
        )
        // On a cluster, on a node of the run's reference kind, so that it can also stand as the declared figure.
        let placement = ledger.state.referenceKind.flatMap { ledger.state.node(ofKind: $0, alive: liveNodes) }
            .map { Placement.node($0.id) }
        do {
            let result = try await ledger.timing {
                try await executor.evaluate(request, placement: placement ?? .anywhere)
            }
            try ledger.record(.remeasured(candidate: first.record.id, rival: board[1].record.id, result: result))
        } catch is CancellationError {
            return false
        }
        return !Task.isCancelled
    }

    /// The executor's live nodes, when it has a cluster's (a node that died since it measured is not asked
    /// to measure again).
    private var liveNodes: Set<String>? {
        executor.status.map { Set($0.nodes.filter(\.isAlive).map(\.id)) }
    }

    /// Ctrl-C: journals the stop and leaves a report of the run so far.
    package func interrupt(_ ledger: Ledger, id: String) throws -> RunState {
        try ledger.record(.interrupted)
        try writeReport(ledger.state, id: id)
        return ledger.state
    }

    package func writeReport(_ state: RunState, id: String) throws(RunError) {
        let report = RunReport(state: state, runID: id)
        let folder = store.folder(of: id)
        try writeFile(report.html(), to: folder.appending(path: "report.html"))
        try writeFile(report.markdown(), to: folder.appending(path: "report.md"))
    }

    private func writeFile(_ text: String, to url: URL) throws(RunError) {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw RunError(.io, "cannot write \(url.path)", underlying: error)
        }
    }
}

extension RunSettings {
    /// A candidate's source: its own (agent runs) or its design's (tuner runs).
    package func source(of record: CandidateRecord) -> String? {
        record.source ?? designs.first { $0.name == record.design }?.source
    }

    /// A candidate's source, for viewers such as the dashboard.
    /// - Parameter record: the candidate.
    /// - Returns: its source, if known.
    package func sourceText(of record: CandidateRecord) -> String? { source(of: record) }
}

/// Facts about this library.
package enum KilnRun {
    /// Kiln's version, recorded in every run.
    package static let version = "0.1.0"
}
