import Foundation
import KilnCore
package import KilnHarness
import KilnTask
import KilnTuner

extension RunOrchestrator {
    /// The tuner's loop: keeps up to the run's parallelism of evaluations in flight until a budget runs
    /// out or every design's space is exhausted, then finishes the run.
    ///
    /// Candidate `k` is proposed once every candidate up to `k - parallelism` has its result, from those
    /// results alone, the later ones counting as pending (a constant liar, ``SearchStrategy``): proposals
    /// are a pure function of the journal and the seed, whichever evaluation finishes first, so a resumed
    /// run proposes exactly what an uninterrupted one would. With one slot this is today's loop.
    func drive(
        id: String,
        journal: Journal,
        task: KernelTask,
        progress: @escaping @Sendable (RunProgress) -> Void
    ) async throws -> RunState {
        let ledger = try Ledger(journal: journal)
        defer { progress(ledger.partFinished) }
        // On a device that checks correctness only, the task's interpreter shapes are the suite.
        let loaded = task
        let task: KernelTask
        do {
            task = try await evaluator.prepare(loaded).task
        } catch is CancellationError {
            return try interrupt(ledger, id: id)
        }
        guard let settings = ledger.state.settings, let strategy = Strategies.named(settings.strategy) else {
            throw RunError(.corrupt, "run \(id) has no readable settings")
        }
        var spaces: [String: SearchSpace] = [:]
        for design in settings.designs {
            spaces[design.name] = SearchSpace(try TunableSpace.parse(source: design.source, file: design.path))
        }
        let tuner = Tuner(settings: settings, strategy: strategy, spaces: spaces)
        return try await withExecutorStatus(runID: id) {
            try await stoppingResumably(ledger, id: id) {
                try await tune(tuner, ledger: ledger, task: task, id: id, progress: progress)
            }
        }
    }

    private func tune(
        _ tuner: Tuner,
        ledger: Ledger,
        task: KernelTask,
        id: String,
        progress: @escaping @Sendable (RunProgress) -> Void
    ) async throws -> RunState {
        var tuner = tuner
        return try await withThrowingTaskGroup(of: (id: Int, completed: Bool).self) { group in
            var inFlight: Set<Int> = []
            func stop() async throws -> RunState {
                group.cancelAll()
                while true {
                    do {
                        guard try await group.next() != nil else { break }
                    } catch {
                        // Cancelled evaluations journal nothing; what they threw while stopping does not matter.
                        continue
                    }
                }
                return try interrupt(ledger, id: id)
            }
            while ledger.state.outcome == nil {
                if Task.isCancelled { return try await stop() }
                // Evaluations a killed run left unfinished are submitted again (the harness's cache answers
                // at once for one that had finished), then new points fill the free slots.
                var submissions = ledger.state.pendingCandidates.map(\.record).filter { !inFlight.contains($0.id) }
                while inFlight.count + submissions.count < tuner.parallelism,
                    let record = try tuner.propose(ledger, inFlight: inFlight.count + submissions.count)
                {
                    submissions.append(record)
                }
                for record in submissions {
                    inFlight.insert(record.id)
                    group.addTask {
                        let completed = try await evaluate(
                            record,
                            ledger: ledger,
                            task: task,
                            progress: progress
                        )
                        return (record.id, completed)
                    }
                }
                if inFlight.isEmpty {
                    var reason = "exhausted"
                    if let budget = ledger.state.exhaustedBudget() {
                        try ledger.record(.budgetExhausted(budget))
                        progress(.budgetExhausted(budget))
                        reason = "budget"
                    }
                    guard try await finish(reason: reason, ledger: ledger, task: task, id: id, progress: progress)
                    else { return try await stop() }
                    continue
                }
                guard let done = try await group.next() else { continue }
                inFlight.remove(done.id)
                if !done.completed { return try await stop() }
            }
            return ledger.state
        }
    }

    /// Evaluates a journaled candidate on the suite through the ledger; returns false when cancelled.
    private func evaluate(
        _ candidate: CandidateRecord,
        ledger: Ledger,
        task: KernelTask,
        progress: @Sendable (RunProgress) -> Void
    ) async throws -> Bool {
        guard let settings = ledger.state.settings,
            let design = settings.designs.first(where: { $0.name == candidate.design })
        else { throw RunError(.corrupt, "candidate \(candidate.id) names an unknown design") }
        var request = EvaluationRequest(
            task: task,
            source: design.source,
            candidateName: "\(design.name) #\(candidate.id)",
            configuration: candidate.configuration,
            shapes: task.suite,
            options: evaluationOptions(settings)
        )
        // Timed beside the run's best as it stands at submission, in the same pairs on the same node (the
        // rival travels in the bundle).
        request.rival = ledger.state.rivalForNextEvaluation(excluding: candidate.id)
        do {
            _ = try await ledger.evaluate(
                candidate,
                isNew: false,
                request: request,
                isRanked: true,
                using: executor,
                progress: progress
            )
        } catch is CancellationError {
            return false
        }
        return true
    }

    /// Runs a part of a run; an executor that cannot evaluate (its cluster unreachable or gone, a node
    /// unfit) stops it resumably: `interrupted` is journaled and the error says how to continue.
    /// - Parameters:
    ///   - ledger: the run's ledger.
    ///   - id: the run's id.
    ///   - body: the part.
    /// - Returns: what `body` returns.
    /// - Throws: ``RunError`` `.executorUnavailable` for an ``ExecutorError``; what `body` throws.
    package func stoppingResumably<T>(_ ledger: Ledger, id: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ExecutorError {
            _ = try? interrupt(ledger, id: id)
            throw RunError(
                .executorUnavailable,
                "\(error.message)\nThe run is saved: nothing finished is lost, and 'kiln resume \(id)' with the same --executor options submits again what was in flight."
            )
        }
    }

    /// Runs `body` while the executor's status (slots per node, evaluations in flight) is written to the
    /// run's folder (`executor.json`) for the dashboard; the file is removed afterwards.
    /// - Parameters:
    ///   - runID: the run's id.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws.
    package func withExecutorStatus<T>(runID: String, _ body: () async throws -> T) async throws -> T {
        let url = store.folder(of: runID).appending(path: ExecutorStatus.fileName)
        let write: @Sendable (ExecutorStatus) -> Void = { status in
            guard let data = try? EvaluationCoding.encoder.encode(status) else { return }
            try? data.write(to: url, options: .atomic)
        }
        if let status = executor.status { write(status) }
        executor.onStatusChange(write)
        defer {
            executor.onStatusChange(nil)
            try? FileManager.default.removeItem(at: url)
        }
        return try await body()
    }
}

extension ExecutorStatus {
    /// The file beside a run's journal that holds its executor's status while it runs.
    package static let fileName = "executor.json"
}

/// What the tuner's loop proposes from: the run's designs, strategy and parallelism, and the designs
/// whose spaces are known to be exhausted.
struct Tuner {
    let settings: RunSettings
    let strategy: any SearchStrategy
    let spaces: [String: SearchSpace]
    var exhausted: Set<String> = []

    init(settings: RunSettings, strategy: any SearchStrategy, spaces: [String: SearchSpace]) {
        self.settings = settings
        self.strategy = strategy
        self.spaces = spaces
    }

    /// Evaluations kept in flight.
    var parallelism: Int { max(settings.parallelism ?? 1, 1) }

    /// Journals the next candidate, or returns nil when none may be proposed now: a budget (counting the
    /// evaluations in flight) is spent, a result it must learn from is not in yet, or every design is
    /// exhausted.
    mutating func propose(_ ledger: Ledger, inFlight: Int) throws(RunError) -> CandidateRecord? {
        let state = ledger.state
        if state.exhaustedBudget() != nil { return nil }
        if let max = settings.maxEvaluations, state.finishedEvaluations + inFlight >= max { return nil }
        let next = (state.order.last ?? 0) + 1
        // Candidates up to `learned` are learned from; later ones are pending, whether finished or not.
        let learned = next - parallelism
        guard state.order.allSatisfy({ $0 > learned || state.candidates[$0]?.result != nil }) else { return nil }
        while true {
            // The design with the fewest candidates that still has untried points.
            let open = settings.designs.filter { !exhausted.contains($0.name) }
            guard
                let design = open.min(by: { state.count(of: $0.name) < state.count(of: $1.name) }),
                let space = spaces[design.name]
            else { return nil }
            let history = state.trials(of: design.name)
            let pending = Set(
                state.order.filter { $0 > learned }.compactMap { state.candidates[$0]?.record }
                    .filter { $0.design == design.name }.map(\.point)
            )
            let designSeed = settings.seed ^ UInt64(settings.designs.firstIndex(of: design) ?? 0) &* 0x51_7CC1_B727_220A
            guard let point = strategy.propose(space: space, history: history, pending: pending, seed: designSeed)
            else {
                exhausted.insert(design.name)
                continue
            }
            let parent = state.bestOf(design: design.name, through: learned)
            return try ledger.createCandidate { id in
                CandidateRecord(
                    id: id,
                    design: design.name,
                    point: point,
                    configuration: space.configuration(at: point),
                    parent: parent
                )
            }
        }
    }
}

extension RunState {
    /// The number of candidates of a design.
    func count(of design: String) -> Int {
        candidates.values.count { $0.record.design == design }
    }

    /// The trials of a design so far, in creation order: what a search strategy learns from.
    func trials(of design: String) -> [Trial] {
        order.compactMap { candidates[$0] }.filter { $0.record.design == design }.map { candidate in
            Trial(
                index: candidate.record.point,
                score: candidate.result?.correct == true ? candidate.result?.geomeanSpeedup : nil
            )
        }
    }

    /// The best correct candidate of a design among the first `last` candidates.
    func bestOf(design: String, through last: Int) -> Int? {
        rankedCandidates.map(\.candidate).first { $0.record.design == design && $0.record.id <= last }?.record.id
    }

    /// The node kind a run's winner is declared on: the one its settings name, else the kind of the node
    /// that measured its first result; nil for runs evaluated here.
    package var referenceKind: String? {
        if let kind = settings?.referenceKind { return kind }
        return order.lazy.compactMap { candidates[$0]?.result }.first { $0.node != nil }?.nodeKind
    }

    /// The node that most recently measured a result of a kind, among those still alive.
    /// - Parameters:
    ///   - kind: the node kind.
    ///   - alive: the ids of the cluster's live nodes, when known (nil: any node).
    /// - Returns: the node, if any result of that kind came from a (live) node of a cluster.
    package func node(ofKind kind: String, alive: Set<String>? = nil) -> EvaluationNode? {
        order.reversed().lazy.compactMap { candidates[$0]?.result }
            .first { result in
                guard let node = result.node, result.nodeKind == kind else { return false }
                return alive?.contains(node.id) ?? true
            }?
            .node
    }
}
