import Foundation
import KilnHarness
import KilnRun
import KilnTask
import KilnTesting
import Testing

/// When a candidate timed beside the run's best becomes the best, and which candidate leads after the
/// end-of-run measurement: the rules of ``RunState/improvesBest(_:)`` and
/// ``RunState/confirmedLeaderboard``, on the state a real journal folds to.
@Suite
struct ComparisonGateTests {
    /// A finished tuner run of five candidates (the best is #5, at ``SyntheticRun/speedup(of:)``).
    static func finishedRun() async throws -> (SyntheticRun, RunState) {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let run = SyntheticRun(.tuner, candidates: 5, failing: nil)
            let id = try run.write(in: store)
            return (run, RunState(entries: try Journal(url: store.journalURL(of: id), readOnly: true).entries()))
        }
    }

    /// A correct result `factor` times the best's speedup, compared with `rival` with the given verdict.
    static func result(
        _ run: SyntheticRun,
        state: RunState,
        factor: Double,
        rival: Int?,
        verdict: ComparisonVerdict?
    ) -> EvaluationResult {
        var result = run.evaluation(
            of: 5,
            configuration: state.candidates[5]?.record.configuration ?? TunableConfiguration(values: [:], flagSet: 0)
        )
        result.geomeanSpeedup = (run.speedup(of: 5) ?? 1) * factor
        if let verdict {
            let center = verdict == .better ? 0.05 : verdict == .worse ? -0.05 : 0.01
            result.comparison = Comparison(
                rival: rival.map { "#\($0)" } ?? "other.c",
                rivalCandidate: rival,
                interval: LogInterval(center: center, halfWidth: 0.02),
                shapes: result.shapes.count
            )
        }
        return result
    }

    @Test("a faster geometric mean timed beside the best replaces it only when the comparison says better")
    func gate() async throws {
        let (run, state) = try await Self.finishedRun()
        #expect(state.best == 5)
        // Faster over the baseline, and better than the best beside it: a new best.
        #expect(state.improvesBest(Self.result(run, state: state, factor: 1.04, rival: 5, verdict: .better)))
        // Faster over the baseline, but the same as the best within noise, or worse beside it: not a new best.
        #expect(!state.improvesBest(Self.result(run, state: state, factor: 1.04, rival: 5, verdict: .same)))
        #expect(!state.improvesBest(Self.result(run, state: state, factor: 1.04, rival: 5, verdict: .worse)))
        // Not faster over the baseline: never a new best, whatever the comparison says.
        #expect(!state.improvesBest(Self.result(run, state: state, factor: 0.98, rival: 5, verdict: .better)))
        // Timed beside another candidate, or beside none: the baseline's ratio decides.
        #expect(state.improvesBest(Self.result(run, state: state, factor: 1.04, rival: 4, verdict: .same)))
        #expect(state.improvesBest(Self.result(run, state: state, factor: 1.04, rival: nil, verdict: nil)))
        // A wrong result never is.
        var wrong = Self.result(run, state: state, factor: 2, rival: 5, verdict: .better)
        wrong.correct = false
        wrong.verdict = .wrongResult
        #expect(!state.improvesBest(wrong))
    }

    @Test("the first candidate of a run is the best when correct and timed, with nothing to be timed beside")
    func firstCandidate() async throws {
        let (run, state) = try await Self.finishedRun()
        let empty = RunState(entries: [])
        #expect(empty.improvesBest(Self.result(run, state: state, factor: 1, rival: nil, verdict: nil)))
        var untimed = Self.result(run, state: state, factor: 1, rival: nil, verdict: nil)
        untimed.geomeanSpeedup = nil
        #expect(!empty.improvesBest(untimed))
    }

    @Test("the leader measured worse beside the runner-up at the end gives the runner-up first place")
    func confirmedLeaderboard() async throws {
        let (run, state) = try await Self.finishedRun()
        #expect(state.leaderboard.prefix(2).map(\.record.id) == [5, 4])
        for (verdict, order) in [(ComparisonVerdict.worse, [4, 5]), (.same, [5, 4]), (.better, [5, 4])] {
            var remeasured = state
            let result = Self.result(run, state: state, factor: 1, rival: 4, verdict: verdict)
            remeasured.candidates[5]?.remeasured = result
            #expect(remeasured.candidates[5]?.remeasured?.comparison?.verdict == verdict)
            #expect(remeasured.confirmedLeaderboard.prefix(2).map(\.record.id) == order, "\(verdict)")
            // The journal's leaderboard itself is what was measured during the run.
            #expect(remeasured.leaderboard.prefix(2).map(\.record.id) == [5, 4])
        }
    }

    @Test("the rival for the next full-suite evaluation is the run's timed best, never the candidate itself")
    func rivalForNextEvaluation() async throws {
        let (_, state) = try await Self.finishedRun()
        let rival = try #require(state.rivalForNextEvaluation(excluding: 6))
        #expect(rival.candidate == 5)
        #expect(rival.name == "#5")
        #expect(rival.source == SyntheticRun.designSource)
        #expect(state.rivalForNextEvaluation(excluding: 5) == nil)
        #expect(RunState(entries: []).rivalForNextEvaluation(excluding: 1) == nil)
    }
}
