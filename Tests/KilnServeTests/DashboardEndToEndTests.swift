import AsyncHTTPClient
import Foundation
import KilnHarness
import KilnRun
import KilnServe
import KilnTask
import KilnTesting
import Testing

/// The dashboard over real runs of the bundled matmul task, compiled, run and timed: a run's page
/// end to end, and live updates while its journal grows. One at a time, so that each run after the
/// first finds the harness's cache warm.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardEndToEndTests {
    /// A real tuner run of two evaluations on the bundled matmul task: compiled, run and timed.
    static func makeRun(in folder: URL) async throws -> (RunStore, String) {
        let task = try Fixtures.task("matmul")
        let store = RunStore(root: folder.appending(path: "runs"))
        var options = RunOptions()
        options.maxEvaluations = 2
        options.minPairs = 2
        options.maxPairs = 2
        let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
        let (id, _) = try await orchestrator.start(task: task, taskPath: task.folder.path, options: options)
        return (store, id)
    }

    @Test("a real run's page, its JSON API and its candidates' sources are served from its journal")
    func realRun() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await Self.makeRun(in: folder)
            try await DashboardServer(store: store).withRunning { base in
                #expect(try await DashboardTests.get(base).body.contains(id))
                let page = try await DashboardTests.get(base.appending(path: "runs/\(id)"))
                #expect(page.status == 200)
                #expect(page.body.contains("Best speedup over evaluations"))
                #expect(
                    page.body.range(
                        of: #"evaluation_finished</td><td class="mono">#2 \d+\.\d\dx"#,
                        options: .regularExpression
                    )
                        != nil
                )
                #expect(page.body.contains("Budgets used"))
                #expect(try HTMLReferences.remote(in: page.body) == [])
                let object = try DashboardTests.json(
                    try await DashboardTests.get(base.appending(path: "api/runs/\(id)")).body
                )
                #expect(object["best_speedup"] is Double)
                #expect((object["leaderboard"] as? [Any])?.isEmpty == false)
                let candidate = try await DashboardTests.get(base.appending(path: "runs/\(id)/candidates/1"))
                #expect(candidate.body.contains("kiln:tunable"))
                // The tuner's second candidate: the first's source in another configuration.
                let second = try await DashboardTests.get(base.appending(path: "runs/\(id)/candidates/2"))
                #expect(second.body.contains("Configuration against its parent #1"))
                #expect(second.body.contains(" → "))
            }
        }
    }

    @Test("a live viewer gets an update when the run's journal grows")
    func liveUpdate() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await Self.makeRun(in: folder)
            try await DashboardServer(store: store, pollInterval: .milliseconds(100)).withRunning { base in
                var appended = false
                let text = try await DashboardLiveTests.follow(base, id) { text in
                    if !appended, text.contains("event: hello") {
                        appended = true
                        // Another process writing the run: here, a direct append to its journal.
                        try Journal(url: store.journalURL(of: id)).append(.interrupted)
                    }
                    return text.contains("event: update")
                }
                #expect(text.contains("event: update"))
            }
        }
    }

    @Test(
        "in a real headless browser, an open run page updates live while the run is being written",
        .enabled(if: HeadlessBrowser.executable != nil, "needs chromium-headless-shell (installed by .ci/run)")
    )
    func browserLiveUpdate() async throws {
        try await withTemporaryDirectory { folder in
            let task = try Fixtures.task("matmul")
            let store = RunStore(root: folder.appending(path: "runs"))
            var options = RunOptions()
            options.maxEvaluations = 4
            options.minPairs = 2
            options.maxPairs = 2
            options.seed = 11
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
            // The run's first part: one evaluation, then stopped (as by Ctrl-C).
            let (evaluated, signal) = AsyncStream.makeStream(of: Void.self)
            let first = Task {
                try await orchestrator.start(task: task, taskPath: task.folder.path, options: options) { progress in
                    if case .evaluated = progress { signal.yield() }
                }
            }
            for await _ in evaluated {
                first.cancel()
                break
            }
            let (id, stopped) = try await first.value
            #expect(stopped.outcome == nil)
            let live = "document.getElementById('live') ? document.getElementById('live').innerText : null"
            try await DashboardServer(store: store, pollInterval: .milliseconds(100)).withRunning { base in
                let page = try BrowserPage(base.appending(path: "runs/\(id)"))
                let before = try await page.waitFor(live) { $0.contains("Budgets used") }
                let seenBefore = try #require(
                    Int(try page.evaluate("document.getElementById('seq').textContent") as? String ?? "")
                )
                #expect(!before.contains("evaluations: 4 of 4"))
                // The run goes on while the page stays open (what `kiln resume` does, in this process).
                let (_, final) = try await orchestrator.resume(id)
                #expect(final.finishedEvaluations == 4)
                let after = try await page.waitFor(live, timeout: .seconds(60)) { $0.contains("evaluations: 4 of 4") }
                #expect(after.range(of: #"\d+\.\d\dx"#, options: .regularExpression) != nil)
                let seenAfter = try #require(
                    Int(try page.evaluate("document.getElementById('seq').textContent") as? String ?? "")
                )
                #expect(seenAfter > seenBefore)
            }
        }
    }
}
