import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTesting
import Testing

/// The journals ``SyntheticRun`` writes fold to the runs their values describe, as a real run's would.
@Suite
struct SyntheticRunTests {
    static func state(of id: String, in store: RunStore) throws -> RunState {
        RunState(entries: try Journal(url: store.journalURL(of: id), readOnly: true).entries())
    }

    @Test("a finished tuner run: every evaluation, the best, the failing candidate, the held-out winner, the report")
    func finishedTunerRun() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let run = SyntheticRun(.tuner, candidates: 5, failing: 2)
            let id = try run.write(in: store)
            let state = try Self.state(of: id, in: store)
            #expect(state.settings?.proposer == "tuner")
            #expect(state.finishedEvaluations == 5)
            #expect(state.exhaustedBudgets == ["evaluations"])
            #expect(state.best == 5)
            #expect(run.best == 5)
            #expect(state.bestSpeedup == run.speedup(of: 5))
            #expect(state.leaderboard.map(\.record.id) == [5, 4, 3, 1])
            let failed = try #require(state.candidates[2]?.result)
            #expect(!failed.correct)
            #expect(failed.verdict == .wrongResult)
            #expect(failed.geomeanSpeedup == nil)
            let best = try #require(state.candidates[5]?.result)
            #expect(best.shapes.map(\.name) == SyntheticRun.suite.map(\.name))
            // The shapes' speedups have the candidate's geometric mean.
            let logs = best.shapes.compactMap(\.speedup).map { log($0) }
            #expect(abs(exp(logs.reduce(0, +) / Double(logs.count)) - (best.geomeanSpeedup ?? 0)) < 1e-9)
            #expect(best.shapes.allSatisfy { ($0.fractionOfPeak ?? 0) > 0 && ($0.gflops ?? 0) > 0 })
            let outcome = try #require(state.outcome)
            #expect(outcome.winner == 5)
            #expect(state.candidates[5]?.heldout?.correct == true)
            #expect(state.candidates[5]?.record.parent == 4)
            let runFolder = store.folder(of: id)
            for file in ["report.html", "report.md", "winner.c"] {
                #expect(FileManager.default.fileExists(atPath: runFolder.appending(path: file).path), "\(file)")
            }
            #expect(store.summaries().first?.status == "finished")
        }
    }

    @Test("an interrupted agent run: two tracks, its conversation, and the evaluation it stopped in left pending")
    func interruptedAgentRun() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let run = SyntheticRun(.agent, candidates: 4, failing: nil, ending: .interrupted)
            let id = try run.write(in: store)
            let state = try Self.state(of: id, in: store)
            #expect(state.settings?.agent != nil)
            #expect(state.settings?.proposer == run.proposerLabel)
            #expect(state.isInterrupted)
            #expect(state.outcome == nil)
            #expect(state.finishedEvaluations == 3)
            #expect(state.candidates[4]?.isStarted == true)
            #expect(state.candidates[4]?.result == nil)
            #expect(state.tracks.map(\.name) == ["main", "two-level"])
            #expect(state.currentTrack == "two-level")
            #expect(
                state.candidates.values.map(\.record.design).sorted() == ["main", "main", "two-level", "two-level"]
            )
            #expect(state.candidates[3]?.record.source == run.source(of: 3))
            // What `kiln resume` would re-run: the evaluation the run stopped in.
            #expect(state.agent.pendingCalls.map(\.name) == ["evaluate"])
            #expect(state.agent.cost > 0)
            #expect(store.summaries().first?.status == "interrupted")
        }
    }

    @Test(
        "the failing candidate carries the verdict asked for, with a reason",
        arguments: [Verdict.buildFailed, .wrongResult, .crashed, .timedOut, .integrityViolation]
    )
    func verdicts(verdict: Verdict) async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let id = try SyntheticRun(.tuner, candidates: 2, failing: 1, verdict: verdict).write(in: store)
            let result = try #require(try Self.state(of: id, in: store).candidates[1]?.result)
            #expect(result.verdict == verdict)
            #expect(!result.correct)
            #expect(result.failure?.isEmpty == false)
        }
    }
}
