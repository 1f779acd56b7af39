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

    @Test(
        "chart coordinates are written with one decimal, as printf's %.1f would",
        arguments: [0.0, 12.34, 12.35, 12.36, -0.04, -0.06, -3.25, 399.99, 1e6 + 0.44, 0.05]
    )
    func coordinates(value: Double) {
        let written = SVGChart.f(value)
        #expect(written.firstMatch(of: /^-?\d+\.\d$/) != nil, "\(written)")
        #expect(abs((Double(written) ?? .nan) - value) <= 0.05 + 1e-9, "\(written)")
        // printf writes "-0.0" for small negatives; a coordinate needs no sign there.
        let printf = String(format: "%.1f", value).replacingOccurrences(of: "-0.0", with: "0.0")
        // Only halves may round differently (printf rounds the binary value; this rounds half away).
        #expect(written == printf || abs(abs(value * 10).truncatingRemainder(dividingBy: 1) - 0.5) < 1e-6)
    }
}
