import Foundation
import KilnHarness
import KilnRun
import KilnTask
import KilnTesting
import Testing

@Suite(.timeLimit(.minutes(5)))
struct ReportTests {
    @Test(
        "the report renders in a real headless browser: charts, winner, leaderboard",
        .enabled(if: HeadlessBrowser.executable != nil, "needs chromium-headless-shell (installed by .ci/run)")
    )
    func rendersInBrowser() async throws {
        try await withTemporaryDirectory { folder in
            let task = try Fixtures.task("matmul")
            let store = RunStore(root: folder)
            var options = RunOptions()
            options.maxEvaluations = 3
            options.minPairs = 2
            options.maxPairs = 2
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
            let (id, _) = try await orchestrator.start(task: task, taskPath: task.folder.path, options: options)
            let page = store.folder(of: id).appending(path: "report.html")
            let screenshot = folder.appending(path: "report.png")
            let dom = try await HeadlessBrowser.render(page, screenshot: screenshot)
            #expect(dom.contains("<svg"))
            #expect(dom.contains("Best speedup over evaluations"))
            #expect(dom.contains("Winner: candidate #"))
            #expect(dom.contains("Leaderboard"))
            #expect(dom.contains("Held-out shapes"))
            let size = try FileManager.default.attributesOfItem(atPath: screenshot.path)[.size] as? Int ?? 0
            #expect(size > 20_000)
        }
    }
}
