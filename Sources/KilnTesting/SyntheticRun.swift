import Foundation
package import KilnHarness
package import KilnRun
import KilnTask

/// A run's journal written from values alone: a real journal in a real runs folder, through
/// ``Journal`` and ``RunEvent``, of a tuner run or an agent run, without a compiler, a machine probe
/// or an evaluation.
///
/// The events are the ones the orchestrator and the agent loop write, in their order: `started`, then
/// for each candidate `candidate_created`, `evaluation_started`, `evaluation_finished` (a realistic
/// ``EvaluationResult`` with per-shape figures) and `best_improved` when it is the best so far; one
/// candidate fails with a verdict. An agent run also has its conversation (requests, answers, tool
/// calls and their results) and two design tracks. A finished run ends with the budget, the best
/// candidate's held-out check, its report and `finished`; an interrupted one with its last candidate's
/// evaluation started but never finished, and `interrupted`.
///
/// Every figure is a function of the candidate's number (see ``speedup(of:)``), so tests can assert
/// on exact values.
package struct SyntheticRun: Sendable {
    /// Who proposes the candidates.
    package enum Proposer: Sendable, Hashable {
        /// The tuner, over one seed design's grid.
        case tuner
        /// A model, through tools, in two design tracks.
        case agent
    }

    /// How the journal ends.
    package enum Ending: Sendable, Hashable {
        /// The evaluation budget is reached, the best candidate passes the held-out shapes and wins.
        case finished
        /// The last candidate's evaluation was started and never finished (Ctrl-C during it).
        case interrupted
    }

    /// Who proposes the candidates.
    package var proposer: Proposer
    /// How many candidates the run makes (an interrupted run's last one is never evaluated).
    package var candidates: Int
    /// The candidate that fails, if any.
    package var failing: Int?
    /// The failing candidate's verdict.
    package var verdict: Verdict
    /// How the journal ends.
    package var ending: Ending

    /// The task's name.
    package static let taskName = "matmul"
    /// The suite's shapes: name, m, n, k.
    package static let suite: [(name: String, m: Int, n: Int, k: Int)] = [
        ("square-256", 256, 256, 256), ("tall-512x128x256", 512, 128, 256), ("odd-193x257x131", 193, 257, 131),
        ("wide-96x384x320", 96, 384, 320),
    ]
    /// The held-out shapes.
    package static let heldout: [(name: String, m: Int, n: Int, k: Int)] = [
        ("ragged-317x211x389", 317, 211, 389), ("skinny-37x509x447", 37, 509, 447),
    ]
    /// The design the tuner tunes (and the agent starts from), with its tunables.
    package static let designSource = """
        /* A blocked fp32 matmul (synthetic: this run was written from values, never compiled). */
        // kiln:tunable BM 64 32 128
        // kiln:tunable BN 256 64 128
        // kiln:tunable BK 256 64
        // kiln:flags -O3 -march=native | -O3 -march=native -funroll-loops
        #include "matmul.h"

        void matmul(const float *a, const float *b, float *c, int m, int n, int k) {
            for (int i0 = 0; i0 < m; i0 += BM)
                for (int j0 = 0; j0 < n; j0 += BN)
                    for (int p0 = 0; p0 < k; p0 += BK)
                        matmul_block(a, b, c, m, n, k, i0, j0, p0);
        }
        """
    /// The machine the run claims.
    package static let machine = MachineProfile(
        peakGflops1: 98,
        peakGflopsAll: 190,
        threads: 2,
        bandwidthGbs1: 14.5,
        bandwidthGbsAll: 21.0,
        l1dBytes: 48 << 10,
        l2Bytes: 2 << 20,
        l3Bytes: 32 << 20,
        cpuModel: "Synthetic Xeon (values only)",
        simd: "avx2",
        measuredAt: Date(timeIntervalSince1970: 1_790_000_000)
    )

    /// Describes a run to write.
    /// - Parameters:
    ///   - proposer: the tuner or a model.
    ///   - candidates: how many candidates (at least 1).
    ///   - failing: the candidate that fails, if any.
    ///   - verdict: its verdict.
    ///   - ending: finished or interrupted.
    package init(
        _ proposer: Proposer,
        candidates: Int = 3,
        failing: Int? = 3,
        verdict: Verdict = .wrongResult,
        ending: Ending = .finished
    ) {
        self.proposer = proposer
        self.candidates = max(candidates, 1)
        self.failing = failing
        self.verdict = verdict
        self.ending = ending
    }

    /// The candidates whose evaluation finishes (all but an interrupted run's last).
    package var evaluated: ClosedRange<Int>? {
        let last = ending == .interrupted ? candidates - 1 : candidates
        return last >= 1 ? 1...last : nil
    }

    /// A candidate's geometric-mean speedup, or nil when it fails: it rises with the number, with a
    /// dip at every third candidate, so that not every candidate is a new best.
    /// - Parameter number: the candidate's number, from 1.
    /// - Returns: the speedup.
    package func speedup(of number: Int) -> Double? {
        guard number != failing else { return nil }
        return number.isMultiple(of: 3) ? 1.2 + 0.2 * Double(number) : 1.2 + 0.45 * Double(number)
    }

    /// The best evaluated correct candidate, as the journal's `best_improved` events say.
    package var best: Int? {
        guard let evaluated else { return nil }
        return evaluated.compactMap { number in speedup(of: number).map { (number, $0) } }
            .max { $0.1 < $1.1 }?.0
    }

    /// The proposer's label, as `kiln runs` shows it.
    package var proposerLabel: String {
        switch proposer {
        case .tuner: "tuner"
        case .agent: agentSettings.label
        }
    }

    /// The design tracks of an agent run, in the order they are started.
    package static let tracks: [(name: String, rationale: String)] = [
        ("main", "the model's first design"), ("two-level", "block for L2, then pack panels for L1"),
    ]

    /// The track a candidate of an agent run belongs to: the first half in the first, the rest in the
    /// second.
    /// - Parameter number: the candidate's number.
    /// - Returns: the track's name.
    package func track(of number: Int) -> String {
        number <= (candidates + 1) / 2 ? Self.tracks[0].name : Self.tracks[1].name
    }

    /// Writes the run into a new folder of `store`.
    /// - Parameter store: the runs folder.
    /// - Returns: the run's id.
    /// - Throws: ``RunError`` when the folder or journal cannot be written.
    package func write(in store: RunStore) throws -> String {
        let id = try store.create(taskName: Self.taskName)
        let journal = try Journal.create(at: store.journalURL(of: id), startingWith: .started(settings(id: id)))
        // Journaled and folded together, as a run's are.
        let ledger = try Ledger(journal: journal)
        var state: RunState { ledger.state }
        func append(_ events: [RunEvent]) throws {
            for event in events { try ledger.record(event) }
        }
        if proposer == .agent { try append(opening) }
        for number in 1...candidates {
            if proposer == .agent, number > 1, track(of: number) != track(of: number - 1) {
                try append(newTrack(turn: number))
            }
            let candidate = candidateRecord(number, parent: state.best)
            if proposer == .agent { try append(evaluationTurn(candidate)) }
            try append([.candidateCreated(candidate), .evaluationStarted(candidate: number)])
            guard evaluated?.contains(number) == true else { break }
            let result = evaluation(of: number, configuration: candidate.configuration)
            try append([.evaluationFinished(candidate: number, result: result)])
            if state.improvesBest(result), let speedup = result.geomeanSpeedup {
                try append([.bestImproved(candidate: number, speedup: speedup)])
            }
            if proposer == .agent { try append([toolResult(of: candidate, result: result)]) }
        }
        switch ending {
        case .interrupted:
            try append([.interrupted])
            try writeReport(RunReport(state: state, runID: id), in: store.folder(of: id))
        case .finished:
            try append(proposer == .agent ? finishTurn(turn: candidates + 1) : [.budgetExhausted("evaluations")])
            try finish(id: id, store: store, state: state, append: append)
        }
        return id
    }

    /// The held-out check of the best candidate, the winner file, the report and `finished`, as the
    /// orchestrator's end of a run writes them.
    private func finish(
        id: String,
        store: RunStore,
        state: RunState,
        append: ([RunEvent]) throws -> Void
    ) throws {
        var outcome = RunOutcome(
            reason: proposer == .agent ? "finished" : "budget",
            best: state.best,
            winner: nil,
            winnerSpeedup: nil,
            winnerFile: nil,
            reportFile: "report.html"
        )
        var checked = state
        if let best = state.best, let candidate = state.candidates[best] {
            let heldout = evaluation(of: best, configuration: candidate.record.configuration, isHeldout: true)
            try append([.heldoutChecked(candidate: best, result: heldout)])
            checked.candidates[best]?.heldout = heldout
            outcome.winner = best
            outcome.winnerSpeedup = candidate.result?.geomeanSpeedup
            let defines = candidate.record.configuration.values.sorted { $0.key < $1.key }
                .map { "#define \($0.key) \($0.value)" }.joined(separator: "\n")
            try write(defines + "\n" + source(of: best), to: store.folder(of: id).appending(path: "winner.c"))
            outcome.winnerFile = "winner.c"
        }
        checked.outcome = outcome
        try writeReport(RunReport(state: checked, runID: id), in: store.folder(of: id))
        try append([.finished(outcome)])
    }

    private func writeReport(_ report: RunReport, in folder: URL) throws {
        try write(report.html(), to: folder.appending(path: "report.html"))
        try write(report.markdown(), to: folder.appending(path: "report.md"))
    }

    private func write(_ text: String, to url: URL) throws {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw RunError(.io, "cannot write \(url.path)", underlying: error)
        }
    }
}
