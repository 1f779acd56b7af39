import Foundation
import KilnHarness
import KilnRun
import KilnTask
import KilnTesting
import Testing

@Suite(.timeLimit(.minutes(5)))
struct RunTests {
    @Test("a tuner run journals every evaluation, keeps the best, checks held-out shapes and writes winner and report")
    func tunerRun() async throws {
        try await withTemporaryDirectory { folder in
            let task = try Fixtures.task("matmul")
            let store = RunStore(root: folder)
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
            var options = RunOptions()
            options.maxEvaluations = 6
            options.seed = 5
            options.minPairs = 2
            options.maxPairs = 2
            let (id, state) = try await orchestrator.start(task: task, taskPath: task.folder.path, options: options)
            #expect(state.finishedEvaluations == 6)
            #expect(state.exhaustedBudgets == ["evaluations"])
            let outcome = try #require(state.outcome)
            let winner = try #require(outcome.winner)
            #expect(state.candidates[winner]?.heldout?.correct == true)
            let speedups = state.leaderboard.compactMap { $0.result?.geomeanSpeedup }
            #expect(state.bestSpeedup == speedups.max())
            let runFolder = store.folder(of: id)
            let winnerText = try String(contentsOf: runFolder.appending(path: "winner.c"), encoding: .utf8)
            #expect(winnerText.contains("#define BM "))
            #expect(winnerText.contains("held-out shapes: passed"))
            let html = try String(contentsOf: runFolder.appending(path: "report.html"), encoding: .utf8)
            #expect(html.contains("<svg"))
            #expect(html.contains("Leaderboard"))
            #expect(!html.contains("<script"))
            #expect(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"))
            #expect(!html.contains("https://"))
            let summaries = store.summaries()
            #expect(summaries.first?.status == "finished")
            #expect(summaries.first?.evaluations == 6)
            // A finished run cannot be resumed.
            let error = try await #require(throws: RunError.self) { try await orchestrator.resume(id) }
            #expect(error.code == .notResumable)
        }
    }
}
