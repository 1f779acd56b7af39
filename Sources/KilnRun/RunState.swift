package import Foundation
package import KilnAgent
package import KilnHarness
import KilnTask

/// A run's state: a fold over its journal.
package struct RunState: Sendable {
    /// One candidate and what is known of it.
    package struct Candidate: Sendable, Hashable {
        /// How it was made.
        package var record: CandidateRecord
        /// Whether its evaluation was started.
        package var isStarted = false
        /// Its suite evaluation, once finished.
        package var result: EvaluationResult?
        /// Its held-out check, if it had one.
        package var heldout: EvaluationResult?
        /// Its suite measured again on a node of the run's reference kind, if it was the winner and its
        /// suite result came from another kind.
        package var reference: EvaluationResult?
        /// Its end-of-run measurement beside the runner-up (see ``RunEvent/remeasured(candidate:rival:result:)``).
        package var remeasured: EvaluationResult?
        /// When its evaluation finished.
        package var finishedAt: Date?
    }

    /// The settings, from the first event.
    package var settings: RunSettings?
    /// Candidates by id.
    package var candidates: [Int: Candidate] = [:]
    /// Candidate ids in creation order.
    package var order: [Int] = []
    /// The best correct candidate so far.
    package var best: Int?
    /// The best speedup so far.
    package var bestSpeedup: Double?
    /// Budgets that ran out.
    package var exhaustedBudgets: [String] = []
    /// How the run ended, if it did.
    package var outcome: RunOutcome?
    /// Whether the last part of the run was interrupted.
    package var isInterrupted = false
    /// The wall time of every part of the run, seconds.
    package var elapsedSeconds: Double = 0
    /// When the run started.
    package var startedAt: Date?
    /// When the last event was written.
    package var lastEventAt: Date?
    /// The last sequence number folded.
    package var lastSequence = 0
    /// The number of events folded.
    package var eventCount = 0
    /// The model's conversation and counters (agent runs).
    package var agent = AgentState()
    /// Design tracks in the order they were started, with their rationale.
    package var tracks: [(name: String, rationale: String)] = []
    /// The current design track.
    package var currentTrack: String?
    /// Candidates made since the model's last answer or tool result (all of them in a run without a
    /// model): those an interrupted tool call made, which its re-run on resume takes up again.
    package var openCandidates: [Int] = []
    private var partStart: Date?

    /// The empty state.
    package init() {}

    /// Folds a journal's entries.
    /// - Parameter entries: the entries, in order.
    package init(entries: [Journal.Entry]) {
        for entry in entries { apply(entry) }
    }

    /// Evaluations that finished.
    package var finishedEvaluations: Int { candidates.values.count { $0.result != nil } }

    /// Candidates whose evaluation started (or was created) and has not finished, in creation order:
    /// the evaluations in flight, or the ones a killed run left for `resume` to submit again.
    package var pendingCandidates: [Candidate] {
        order.compactMap { candidates[$0] }.filter { $0.result == nil }
    }

    /// Folds one more entry.
    /// - Parameter entry: the next entry.
    package mutating func apply(_ entry: Journal.Entry) {
        eventCount += 1
        lastSequence = entry.sequence
        if let partStart, let lastEventAt, entry.event.isPartStart {
            elapsedSeconds += lastEventAt.timeIntervalSince(partStart)
        }
        if entry.event.isPartStart { partStart = entry.date }
        lastEventAt = entry.date
        switch entry.event {
        case .started(let settings):
            self.settings = settings
            startedAt = entry.date
        case .resumed:
            isInterrupted = false
        case .candidateCreated(let record):
            candidates[record.id] = Candidate(record: record)
            order.append(record.id)
            openCandidates.append(record.id)
        case .evaluationStarted(let id):
            candidates[id]?.isStarted = true
        case .evaluationFinished(let id, let result):
            candidates[id]?.result = result
            candidates[id]?.finishedAt = entry.date
        case .bestImproved(let id, let speedup):
            best = id
            bestSpeedup = speedup
        case .budgetExhausted(let budget):
            exhaustedBudgets.append(budget)
        case .heldoutChecked(let id, let result):
            candidates[id]?.heldout = result
        case .winnerRemeasured(let id, let result):
            candidates[id]?.reference = result
        case .remeasured(let id, _, let result):
            candidates[id]?.remeasured = result
        case .finished(let outcome):
            self.outcome = outcome
        case .interrupted:
            isInterrupted = true
        case .agent(let event):
            agent.apply(event)
            if case .message(.tool) = event { openCandidates = [] }
            if case .message(.assistant) = event { openCandidates = [] }
            switch event {
            case .response, .retry: answeredModelRequests += 1
            default: break
            }
        case .trackStarted(let name, let rationale):
            tracks.append((name, rationale))
            currentTrack = name
        case .trackSwitched(let name):
            currentTrack = name
        }
    }

    /// The wall time so far, counting the current part up to `now`.
    /// - Parameter now: the current time, or nil to count only up to the last event.
    /// - Returns: seconds.
    package func elapsed(now: Date? = nil) -> Double {
        guard let partStart else { return elapsedSeconds }
        return elapsedSeconds + ((now ?? lastEventAt) ?? partStart).timeIntervalSince(partStart)
    }

    /// Model requests that got an answer or a retried failure: turns a scripted model already served.
    package var answeredModelRequests = 0

    /// Correct full-suite candidates, best first, each distinct candidate once (see ``rankedCandidates``).
    package var leaderboard: [Candidate] { rankedCandidates.map(\.candidate) }

    /// One row of the leaderboard: a distinct candidate (the same source, or the same design, at the same
    /// configuration) with its best correct full-suite evaluation, and every correct full-suite speedup it
    /// was measured at (a cached duplicate, a fresh re-run, a repeat), in order.
    package struct RankedCandidate: Sendable {
        /// The candidate whose evaluation was the fastest.
        package var candidate: Candidate
        /// The geometric-mean speedups of all its correct full-suite evaluations, in order.
        package var speedups: [Double]
        /// How many of those evaluations were taken on a busy machine.
        package var busyEvaluations = 0

        /// How many times it was evaluated on the full suite, correct.
        package var evaluations: Int { speedups.count }
    }

    /// Correct full-suite candidates, best first, each distinct candidate once.
    package var rankedCandidates: [RankedCandidate] {
        struct Key: Hashable {
            var source: String?
            var design: String
            var configuration: TunableConfiguration
        }
        var rows: [RankedCandidate] = []
        var rowOfKey: [Key: Int] = [:]
        for id in order {
            guard let candidate = candidates[id], let result = candidate.result, result.correct,
                candidate.record.shapes == nil
            else { continue }
            let speedup = result.geomeanSpeedup ?? 0
            // Agent candidates are their source (whatever the track); tuner candidates their design's point.
            let key = Key(
                source: candidate.record.source,
                design: candidate.record.source == nil ? candidate.record.design : "",
                configuration: candidate.record.configuration
            )
            let busy = result.load?.isBusy == true ? 1 : 0
            if let row = rowOfKey[key] {
                rows[row].speedups.append(speedup)
                rows[row].busyEvaluations += busy
                if speedup > rows[row].candidate.result?.geomeanSpeedup ?? 0 { rows[row].candidate = candidate }
            } else {
                rowOfKey[key] = rows.count
                rows.append(RankedCandidate(candidate: candidate, speedups: [speedup], busyEvaluations: busy))
            }
        }
        // Stable: among equal speedups the earlier candidate ranks first.
        return rows.enumerated().sorted { lhs, rhs in
            let (a, b) = (
                lhs.element.candidate.result?.geomeanSpeedup ?? 0, rhs.element.candidate.result?.geomeanSpeedup ?? 0
            )
            return a != b ? a > b : lhs.offset < rhs.offset
        }.map(\.element)
    }
}

extension RunEvent {
    /// Whether the event begins a part of the run (a process working on it).
    var isPartStart: Bool {
        switch self {
        case .started, .resumed: true
        default: false
        }
    }
}

extension RunState {
    /// The candidate a new full-suite evaluation is timed beside: the run's best, when it has one that
    /// was timed (a correctness-only run compares nothing).
    /// - Parameter excluding: the candidate about to be evaluated.
    /// - Returns: the rival, or nil.
    package func rivalForNextEvaluation(excluding: Int) -> Rival? {
        guard let best, best != excluding, let candidate = candidates[best], candidate.result?.geomeanSpeedup != nil,
            let source = settings?.source(of: candidate.record)
        else { return nil }
        return Rival(name: "#\(best)", candidate: best, source: source, configuration: candidate.record.configuration)
    }

    /// Whether a ranked (full-suite) result makes its candidate the run's best: correct, timed, faster than
    /// the best over the baseline and, when the best was timed beside it in the same pairs, faster than the
    /// best beyond the noise measured (verdict `better`); a candidate the same within noise as the best
    /// does not replace it on a lucky geometric mean.
    /// - Parameter result: the finished evaluation's result.
    /// - Returns: true when it should be journaled as `best_improved`.
    package func improvesBest(_ result: EvaluationResult) -> Bool {
        guard result.correct, let speedup = result.geomeanSpeedup, speedup > (bestSpeedup ?? 0) else { return false }
        guard let best, let comparison = result.comparison, comparison.rivalCandidate == best else { return true }
        return comparison.verdict == .better
    }

    /// The leaderboard after the end-of-run measurement: when the leader measured worse than the runner-up
    /// beside it, the runner-up goes first.
    package var confirmedLeaderboard: [Candidate] {
        var board = leaderboard
        if board.count >= 2, board[0].remeasured?.comparison?.verdict == .worse { board.swapAt(0, 1) }
        return board
    }
}
