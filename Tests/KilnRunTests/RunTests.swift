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
            // The best is the candidate best_improved last named (a faster ratio to the baseline that did not
            // beat the best beside it, beyond the noise, does not take its place: RunState.improvesBest).
            let best = try #require(state.best.flatMap { state.candidates[$0] })
            #expect(state.bestSpeedup == best.result?.geomeanSpeedup)
            // After the first timed candidate, each one is timed beside the best so far in the same pairs.
            let compared = state.candidates.values.compactMap { $0.result?.comparison }
            #expect(!compared.isEmpty)
            #expect(compared.allSatisfy { $0.rivalCandidate != nil && $0.shapes > 0 && $0.low <= $0.high })
            // The leader was measured again beside the runner-up before the winner was declared.
            let board = state.leaderboard
            let leader = try #require(board.first)
            let remeasured = try #require(leader.remeasured)
            #expect(remeasured.comparison?.rivalCandidate == board[1].record.id)
            #expect(remeasured.isCached == false)
            #expect(state.confirmedLeaderboard.first?.record.id == winner || board.count < 2)
            let runFolder = store.folder(of: id)
            let winnerText = try String(contentsOf: runFolder.appending(path: "winner.c"), encoding: .utf8)
            #expect(winnerText.contains("#define BM "))
            #expect(winnerText.contains("held-out shapes: passed"))
            let html = try String(contentsOf: runFolder.appending(path: "report.html"), encoding: .utf8)
            #expect(html.contains("<svg"))
            #expect(html.contains("Leaderboard"))
            let markdown = try String(contentsOf: runFolder.appending(path: "report.md"), encoding: .utf8)
            #expect(
                markdown.contains("#\(leader.record.id) was measured again at the end beside #\(board[1].record.id)")
            )
            #expect(!html.contains("<script"))
            #expect(try HTMLReferences.remote(in: html) == [])
            let summaries = store.summaries()
            #expect(summaries.first?.status == "finished")
            #expect(summaries.first?.evaluations == 6)
            // A finished run cannot be resumed.
            let error = try await #require(throws: RunError.self) { try await orchestrator.resume(id) }
            #expect(error.code == .notResumable)
        }
    }
}

/// The check that a report is self-contained can fail: it finds what a report must not refer to.
@Suite
struct RemoteReferenceTests {
    /// A report of a run written from values, as `kiln` writes one.
    static func report() async throws -> String {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let id = try SyntheticRun(.tuner, candidates: 4).write(in: store)
            return try String(contentsOf: store.folder(of: id).appending(path: "report.html"), encoding: .utf8)
        }
    }

    @Test("a report refers to nothing remote: its SVG namespace is no reference")
    func selfContained() async throws {
        let html = try await Self.report()
        #expect(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(try HTMLReferences.remote(in: html) == [])
    }

    @Test(
        "a report with a remote resource fails the check",
        arguments: [
            ("<img src=\"https://tracker.example/pixel.png\">", "https://tracker.example/pixel.png"),
            ("<IMG SRC=HTTP://tracker.example/a.gif>", "HTTP://tracker.example/a.gif"),
            ("<link rel=\"stylesheet\" href='//cdn.example/kiln.css'>", "//cdn.example/kiln.css"),
            ("<p style=\"background: url( 'http://cdn.example/bg.png' )\">x</p>", "http://cdn.example/bg.png"),
            ("<style>@import \"https://cdn.example/more.css\";</style>", "https://cdn.example/more.css"),
            ("<img srcset=\"local.png 1x, https://cdn.example/big.png 2x\">", "https://cdn.example/big.png"),
            ("<svg><image xlink:href=\"https://cdn.example/i.svg\"/></svg>", "https://cdn.example/i.svg"),
            ("<a href=\" \\\\evil.example/x\">x</a>", " \\\\evil.example/x"),
        ]
    )
    func remoteFails(element: String, reference: String) async throws {
        let html = try await Self.report().replacingOccurrences(of: "</body>", with: element + "</body>")
        #expect(try HTMLReferences.remote(in: html) == [reference])
    }

    @Test("local references, data URLs and fragments are not remote")
    func localPasses() throws {
        let html = """
            <a href="/runs/x?token=a">run</a><a href="#top">top</a><img src="data:image/png;base64,AAAA">
            <div data-src="https://not.a.reference/">x</div><p style="background:url(/local.png)">y</p>
            """
        #expect(
            try HTMLReferences.all(in: html) == ["/runs/x?token=a", "#top", "data:image/png;base64,AAAA", "/local.png"]
        )
        #expect(try HTMLReferences.remote(in: html) == [])
    }
}
