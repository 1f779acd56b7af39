package import Foundation
import KilnCore
package import KilnHarness
import Synchronization

/// A run's journal and the state folded from it, advanced together (an event is journaled, then
/// applied), and the one place an evaluation is journaled, whoever proposed it (the tuner, the agent,
/// an MCP client, an executor running several at once).
///
/// Writers are serialised: every `record` appends under one lock, so concurrent evaluations interleave
/// their events but never lose or reorder one.
package final class Ledger: Sendable {
    /// The journal.
    package let journal: Journal
    private let inner: Mutex<Inner>
    /// When this part of the run (this process's) began.
    private let partStart = ContinuousClock.now

    private struct Inner {
        var state: RunState
        /// Time spent, during this part of the run, in each kind of work that is not Kiln's own.
        var spent: [TimeSpent: Duration] = [:]
        /// Work of each kind under way, and since when some of it has been: concurrent evaluations
        /// count once, as the time during which at least one ran.
        var active: [TimeSpent: (count: Int, since: ContinuousClock.Instant)] = [:]
    }

    /// Kinds of work a part of the run spends its time on besides Kiln's own bookkeeping.
    package enum TimeSpent: Sendable, Hashable {
        /// Inside the evaluator (builds, checks, timing; held-out checks).
        case evaluating
        /// Waiting for the model: requests, retries and their back-off, compaction summaries.
        case model
        /// Running the model's workspace tools: files, the sandboxed shell, notes.
        case tools
    }

    /// Creates a ledger over a journal and the state folded from it.
    /// - Parameters:
    ///   - journal: the journal.
    ///   - state: its state.
    package init(journal: Journal, state: RunState) {
        self.journal = journal
        self.inner = Mutex(Inner(state: state))
    }

    /// Opens a ledger by folding a journal.
    /// - Parameter journal: the journal.
    /// - Throws: ``RunError`` when it cannot be read.
    package convenience init(journal: Journal) throws(RunError) {
        self.init(journal: journal, state: RunState(entries: try journal.entries()))
    }

    /// The run's state now.
    package var state: RunState { inner.withLock { $0.state } }

    /// This part's wall time and where it went, for the bookkeeping line.
    package var partFinished: RunProgress {
        let spent = inner.withLock { $0.spent }
        return .partFinished(
            PartTimes(
                wallSeconds: (ContinuousClock.now - partStart).inSeconds,
                evaluationSeconds: (spent[.evaluating] ?? .zero).inSeconds,
                modelSeconds: (spent[.model] ?? .zero).inSeconds,
                toolSeconds: (spent[.tools] ?? .zero).inSeconds
            )
        )
    }

    /// Journals an event, then applies it to the state.
    /// - Parameter event: the event.
    /// - Throws: ``RunError`` when the journal cannot be written (the event then does not count).
    package func record(_ event: RunEvent) throws(RunError) {
        try inner.withLock { inner throws(RunError) in
            let sequence = try journal.append(event)
            inner.state.apply(Journal.Entry(sequence: sequence, date: Date(), event: event))
        }
    }

    /// Runs work that is not Kiln's own bookkeeping (an evaluation, a model request, a workspace tool),
    /// adding its duration to this part's time of that kind (work of one kind that overlaps, such as
    /// evaluations on several nodes, counts once).
    /// - Parameters:
    ///   - kind: what the work is; default an evaluation.
    ///   - body: the work.
    /// - Returns: what it returns.
    /// - Throws: what it throws.
    package func timing<T, E: Error>(
        _ kind: TimeSpent = .evaluating,
        _ body: () async throws(E) -> T
    ) async throws(E) -> T {
        let clock = ContinuousClock()
        inner.withLock { inner in
            let active = inner.active[kind] ?? (0, clock.now)
            inner.active[kind] = (active.count + 1, active.count == 0 ? clock.now : active.since)
        }
        defer {
            inner.withLock { inner in
                guard let active = inner.active[kind] else { return }
                if active.count > 1 {
                    inner.active[kind] = (active.count - 1, active.since)
                } else {
                    inner.active[kind] = nil
                    inner.spent[kind, default: .zero] += clock.now - active.since
                }
            }
        }
        return try await body()
    }

    /// Journals a new candidate under the next free id, chosen under the journal's lock so that
    /// concurrent proposers never take the same one.
    /// - Parameter make: makes the candidate from its id.
    /// - Returns: the candidate, journaled (`candidate_created`).
    /// - Throws: ``RunError`` when the journal cannot be written.
    package func createCandidate(_ make: (Int) -> CandidateRecord) throws(RunError) -> CandidateRecord {
        try inner.withLock { inner throws(RunError) in
            let record = make((inner.state.order.last ?? 0) + 1)
            let event = RunEvent.candidateCreated(record)
            inner.state.apply(Journal.Entry(sequence: try journal.append(event), date: Date(), event: event))
            return record
        }
    }

    /// Evaluates a candidate through the one journaled sequence: `candidate_created` (for a new
    /// candidate), `evaluation_started` (unless an interrupted earlier attempt journaled it), the
    /// evaluation, `evaluation_finished`, and `best_improved` when the result is ranked, correct and
    /// faster than the best so far.
    /// - Parameters:
    ///   - candidate: the candidate.
    ///   - isNew: whether `candidate_created` still has to be journaled.
    ///   - request: what to evaluate.
    ///   - isRanked: whether the result may become the best (full-suite evaluations only).
    ///   - executor: where it runs (here, or on a cluster's node).
    ///   - placement: where on the executor.
    ///   - progress: told when the evaluation starts and ends.
    /// - Returns: the result.
    /// - Throws: `CancellationError` when cancelled (nothing more is journaled: resume re-runs it, and
    ///   the harness's cache makes a finished one free); ``RunError`` when the journal cannot be written;
    ///   what the executor throws when Kiln, the task or the cluster is at fault (nothing more is journaled).
    package func evaluate(
        _ candidate: CandidateRecord,
        isNew: Bool,
        request: EvaluationRequest,
        isRanked: Bool,
        using executor: any EvaluationExecutor,
        placement: Placement = .anywhere,
        progress: @Sendable (RunProgress) -> Void = { _ in }
    ) async throws -> EvaluationResult {
        if isNew { try record(.candidateCreated(candidate)) }
        if state.candidates[candidate.id]?.isStarted != true {
            try record(.evaluationStarted(candidate: candidate.id))
        }
        progress(.evaluating(candidate: candidate, state: state))
        let result = try await timing { try await executor.evaluate(request, placement: placement) }
        try Task.checkCancellation()
        let finished: RunState = try inner.withLock { inner throws(RunError) in
            let finish = RunEvent.evaluationFinished(candidate: candidate.id, result: result)
            inner.state.apply(Journal.Entry(sequence: try journal.append(finish), date: Date(), event: finish))
            if isRanked, inner.state.improvesBest(result), let speedup = result.geomeanSpeedup {
                let best = RunEvent.bestImproved(candidate: candidate.id, speedup: speedup)
                inner.state.apply(Journal.Entry(sequence: try journal.append(best), date: Date(), event: best))
            }
            return inner.state
        }
        progress(.evaluated(candidate: candidate, result: result, state: finished))
        return result
    }
}

extension RunState {
    /// The run's own budget that has run out (evaluations, then wall time over all its parts), or nil.
    /// - Parameter now: the time to judge the wall-time budget at.
    /// - Returns: `evaluations`, `time`, or nil.
    package func exhaustedBudget(now: Date = Date()) -> String? {
        guard let settings else { return nil }
        if let max = settings.maxEvaluations, finishedEvaluations >= max { return "evaluations" }
        if let max = settings.maxSeconds, elapsed(now: now) >= max { return "time" }
        return nil
    }
}
