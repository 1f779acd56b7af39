import AsyncHTTPClient
import Foundation
import KilnHarness
import KilnRun
import KilnServe
import KilnTask
import KilnTesting
import NIOCore
import NIOHTTP1
import Testing

/// The dashboard over a real runs folder, through a real HTTP client on loopback.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardTests {
    static func get(_ url: URL, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url.absoluteString)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

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

    @Test("the runs list, a run page, the JSON API and a candidate's source are served from the journal")
    func pages() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await Self.makeRun(in: folder)
            try await DashboardServer(store: store).withRunning { base in
                let list = try await Self.get(base)
                #expect(list.status == 200)
                #expect(list.body.contains(id))
                let page = try await Self.get(base.appending(path: "runs/\(id)"))
                #expect(page.status == 200)
                #expect(page.body.contains("Best speedup over evaluations"))
                #expect(page.body.contains("EventSource"))
                #expect(page.body.contains("Latest journal events"))
                #expect(
                    page.body.range(
                        of: #"evaluation_finished</td><td class="mono">#2 \d+\.\d\dx"#,
                        options: .regularExpression
                    )
                        != nil
                )
                #expect(page.body.contains("Budgets used"))
                let api = try await Self.get(base.appending(path: "api/runs"))
                let runs = try #require(try JSONSerialization.jsonObject(with: Data(api.body.utf8)) as? [[String: Any]])
                #expect(runs.first?["id"] as? String == id)
                let detail = try await Self.get(base.appending(path: "api/runs/\(id)"))
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(detail.body.utf8)) as? [String: Any]
                )
                #expect(object["best_speedup"] is Double)
                #expect((object["leaderboard"] as? [Any])?.isEmpty == false)
                let events = try await Self.get(
                    base.appending(path: "api/runs/\(id)/events").appending(queryItems: [
                        .init(name: "after", value: "2")
                    ])
                )
                #expect(events.body.contains("\"sequence\" : 3"))
                let candidate = try await Self.get(base.appending(path: "runs/\(id)/candidates/1"))
                #expect(candidate.body.contains("kiln:tunable"))
                // The tuner's second candidate: the first's source in another configuration.
                let second = try await Self.get(base.appending(path: "runs/\(id)/candidates/2"))
                #expect(second.body.contains("Configuration against its parent #1"))
                #expect(second.body.contains(" → "))
            }
        }
    }

    @Test("a run's design tracks, as its journal records them, are on its page and in the API")
    func tracks() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await Self.makeRun(in: folder)
            let journal = try Journal(url: store.journalURL(of: id))
            try journal.append(.trackStarted(name: "blocked-k", rationale: "stream K in blocks <to fit L2>"))
            try journal.append(.trackStarted(name: "split-q", rationale: "split queries across threads"))
            try journal.append(.trackSwitched(name: "blocked-k"))
            try await DashboardServer(store: store).withRunning { base in
                let page = try await Self.get(base.appending(path: "runs/\(id)"))
                #expect(page.body.contains("<h2>Design tracks</h2>"))
                #expect(page.body.contains("<b>blocked-k</b> (current): stream K in blocks &lt;to fit L2&gt;"))
                #expect(page.body.contains("<b>split-q</b>: split queries across threads"))
                let detail = try await Self.get(base.appending(path: "api/runs/\(id)"))
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(detail.body.utf8)) as? [String: Any]
                )
                let tracks = try #require(object["tracks"] as? [[String: Any]])
                #expect(tracks.map { $0["name"] as? String } == ["blocked-k", "split-q"])
                #expect(tracks.map { $0["is_current"] as? Bool } == [true, false])
            }
        }
    }

    @Test(
        "unknown runs, path traversal and writes are refused; nothing outside the runs folder is served",
        arguments: [
            "runs/nope", "runs/..%2F..%2Fetc%2Fpasswd", "runs/%2E%2E", "api/runs/..", "../../etc/passwd",
            "api/runs/x/events", "favicon.ico",
        ]
    )
    func refused(path: String) async throws {
        try await withTemporaryDirectory { folder in
            let (store, _) = try await Self.makeRun(in: folder)
            try await DashboardServer(store: store).withRunning { base in
                let url = try #require(URL(string: base.absoluteString + "/" + path))
                let response = try await Self.get(url)
                #expect(response.status == 404)
                #expect(!response.body.contains("root:"))
            }
        }
    }

    @Test("a token, when set, is checked on every request")
    func token() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await Self.makeRun(in: folder)
            try await DashboardServer(store: store, token: "s3cret").withRunning { base in
                #expect(try await Self.get(base).status == 401)
                #expect(try await Self.get(base.appending(path: "api/runs/\(id)")).status == 401)
                #expect(try await Self.get(base, headers: [("Authorization", "Bearer s3cret")]).status == 200)
                let withQuery = try #require(URL(string: base.absoluteString + "/runs/\(id)?token=s3cret"))
                #expect(try await Self.get(withQuery).status == 200)
            }
            let open = DashboardServer(store: store)
            await #expect(throws: DashboardServer.StartError.self) { try await open.run(host: "0.0.0.0", port: 0) }
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardLiveTests {
    /// Follows a run's stream, calling `read` with all that has come so far after each chunk, until it
    /// says it is done; returns what was read.
    static func follow(
        _ base: URL,
        _ id: String,
        query: [URLQueryItem] = [],
        until read: (String) throws -> Bool
    ) async throws -> String {
        let url = base.appending(path: "api/runs/\(id)/stream").appending(queryItems: query)
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: url.absoluteString),
            timeout: .seconds(30)
        )
        var text = ""
        for try await chunk in response.body {
            text += String(buffer: chunk)
            if try read(text) { break }
        }
        return text
    }

    @Test("a live viewer gets an update when the run's journal grows")
    func liveUpdate() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await DashboardTests.makeRun(in: folder)
            try await DashboardServer(store: store, pollInterval: .milliseconds(100)).withRunning { base in
                var appended = false
                let text = try await Self.follow(base, id) { text in
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

    @Test("a viewer that says what it has seen gets the events written since at once")
    func catchUp() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await DashboardTests.makeRun(in: folder)
            try await DashboardServer(store: store, pollInterval: .milliseconds(100)).withRunning { base in
                let text = try await Self.follow(base, id, query: [.init(name: "after", value: "1")]) {
                    $0.contains("event: update")
                }
                let last = try Journal(url: store.journalURL(of: id), readOnly: true).lastSequence()
                #expect(text.contains("id: \(last)\nevent: update"))
            }
        }
    }

    @Test("the viewers of a run share one render per journal event, and each update carries the page's live part")
    func sharedRender() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await DashboardTests.makeRun(in: folder)
            let server = DashboardServer(store: store, pollInterval: .milliseconds(200))
            try await server.withRunning { base in
                let viewers = 6
                let (greeted, greet) = AsyncStream.makeStream(of: Void.self)
                let updates = try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<viewers {
                        group.addTask {
                            var greeted = false
                            let text = try await Self.follow(base, id, query: [.init(name: "html", value: "1")]) {
                                text in
                                if !greeted, text.contains("event: hello") {
                                    greeted = true
                                    greet.yield()
                                }
                                return text.firstRange(of: "event: update\ndata: ").map {
                                    text[$0.upperBound...].contains("\n\n")
                                } ?? false
                            }
                            guard let update = text.firstRange(of: "event: update\ndata: ") else { return "" }
                            return String(text[update.upperBound...].prefix { $0 != "\n" })
                        }
                    }
                    var hellos = 0
                    for await _ in greeted {
                        hellos += 1
                        if hellos == viewers { break }
                    }
                    let before = server.renderCount
                    try Journal(url: store.journalURL(of: id)).append(.interrupted)
                    var updates: [String] = []
                    for try await update in group { updates.append(update) }
                    #expect(server.renderCount - before == 1)
                    return updates
                }
                let last = try Journal(url: store.journalURL(of: id), readOnly: true).lastSequence()
                #expect(updates.count == viewers)
                for update in updates {
                    let object = try #require(
                        try JSONSerialization.jsonObject(with: Data(update.utf8)) as? [String: Any]
                    )
                    #expect(object["seq"] as? Int == last)
                    #expect((object["html"] as? String)?.contains("interrupted") == true)
                }
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

    @Test(
        "in a real headless browser the runs list renders and a run page shows the best speedup",
        .enabled(if: HeadlessBrowser.executable != nil, "needs chromium-headless-shell (installed by .ci/run)")
    )
    func browser() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try await DashboardTests.makeRun(in: folder)
            try await DashboardServer(store: store).withRunning { base in
                let list = try await HeadlessBrowser.render(base, screenshot: folder.appending(path: "runs.png"))
                #expect(list.contains(id))
                let page = try await HeadlessBrowser.render(
                    base.appending(path: "runs/\(id)"),
                    screenshot: folder.appending(path: "run.png")
                )
                #expect(page.contains("BEST SPEEDUP") || page.contains("best speedup"))
                #expect(page.range(of: #"\d+\.\d\dx"#, options: .regularExpression) != nil)
            }
        }
    }
}
