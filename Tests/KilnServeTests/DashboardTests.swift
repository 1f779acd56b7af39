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

/// The dashboard over a real runs folder, through a real HTTP client on loopback, on journals written
/// from values (``SyntheticRun``): no kernel is compiled or timed here (see ``DashboardEndToEndTests``).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardTests {
    static func get(_ url: URL, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url.absoluteString)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// A run written from values, in a runs folder inside `folder`.
    static func makeSyntheticRun(
        _ run: SyntheticRun = SyntheticRun(.tuner),
        in folder: URL
    ) throws -> (RunStore, String) {
        let store = RunStore(root: folder.appending(path: "runs"))
        return (store, try run.write(in: store))
    }

    @Test("the runs list, a run page, the JSON API and a candidate's source are served from the journal")
    func pages() async throws {
        try await withTemporaryDirectory { folder in
            let run = SyntheticRun(.tuner, candidates: 3, failing: 3)
            let (store, id) = try Self.makeSyntheticRun(run, in: folder)
            try await DashboardServer(store: store).withRunning { base in
                let list = try await Self.get(base)
                #expect(list.status == 200)
                #expect(list.body.contains(id))
                #expect(list.body.contains("<td>finished</td>"))
                let page = try await Self.get(base.appending(path: "runs/\(id)"))
                #expect(page.status == 200)
                #expect(page.body.contains("Best speedup over evaluations"))
                #expect(page.body.contains("EventSource"))
                #expect(page.body.contains("Latest journal events"))
                #expect(page.body.contains(#"evaluation_finished</td><td class="mono">#2 2.10x"#))
                #expect(page.body.contains(#"evaluation_finished</td><td class="mono">#3 wrong_result"#))
                #expect(page.body.contains("<li>evaluations: 3 of 3</li>"))
                #expect(page.body.contains("finished: budget reached (evaluations)"))
                #expect(try HTMLReferences.remote(in: page.body) == [])
                let runs = try #require(
                    try JSONSerialization.jsonObject(
                        with: Data(try await Self.get(base.appending(path: "api/runs")).body.utf8)
                    )
                        as? [[String: Any]]
                )
                #expect(runs.first?["id"] as? String == id)
                let object = try Self.json(try await Self.get(base.appending(path: "api/runs/\(id)")).body)
                #expect(object["best_speedup"] as? Double == run.speedup(of: 2))
                #expect((object["leaderboard"] as? [Any])?.count == 2)
                let events = try await Self.get(
                    base.appending(path: "api/runs/\(id)/events").appending(queryItems: [
                        .init(name: "after", value: "2")
                    ])
                )
                #expect(events.body.contains("\"sequence\" : 3"))
                #expect(!events.body.contains("\"sequence\" : 2,"))
                let candidate = try await Self.get(base.appending(path: "runs/\(id)/candidates/1"))
                #expect(candidate.body.contains("kiln:tunable"))
                #expect(candidate.body.contains("correct · 1.65x"))
                let second = try await Self.get(base.appending(path: "runs/\(id)/candidates/2"))
                #expect(second.body.contains("Configuration against its parent #1"))
                #expect(second.body.contains("BM 64 → 32"))
                let failed = try await Self.get(base.appending(path: "runs/\(id)/candidates/3"))
                #expect(failed.body.contains("wrong_result: shape 'square-256': max abs error 0.84"))
            }
        }
    }

    @Test("an interrupted run's page shows the failing candidate's verdict and the evaluation it stopped in")
    func interrupted() async throws {
        try await withTemporaryDirectory { folder in
            let run = SyntheticRun(.tuner, candidates: 4, failing: 2, verdict: .crashed, ending: .interrupted)
            let (store, id) = try Self.makeSyntheticRun(run, in: folder)
            try await DashboardServer(store: store).withRunning { base in
                #expect(try await Self.get(base).body.contains("<td>interrupted</td>"))
                let page = try await Self.get(base.appending(path: "runs/\(id)")).body
                #expect(page.contains("interrupted (resumable)"))
                #expect(page.contains("<li>evaluations: 3 of 4</li>"))
                #expect(page.contains(#"evaluation_finished</td><td class="mono">#2 crashed"#))
                #expect(page.contains("<td>evaluating…</td>"))
                let object = try Self.json(try await Self.get(base.appending(path: "api/runs/\(id)")).body)
                #expect(object["best_speedup"] as? Double == run.speedup(of: 3))
            }
        }
    }

    @Test("an agent run's page shows its conversation's budgets, its design tracks and each candidate's own source")
    func agentRun() async throws {
        try await withTemporaryDirectory { folder in
            let run = SyntheticRun(.agent, candidates: 4, failing: 3)
            let (store, id) = try Self.makeSyntheticRun(run, in: folder)
            try await DashboardServer(store: store).withRunning { base in
                #expect(try await Self.get(base).body.contains("openai:synthetic-coder"))
                let page = try await Self.get(base.appending(path: "runs/\(id)")).body
                // Two calls per candidate (write, evaluate), then new_track and finish.
                #expect(page.contains("<li>tool calls: 10 of 60</li>"))
                #expect(page.range(of: #"<li>tokens: \d+ of 2000000</li>"#, options: .regularExpression) != nil)
                #expect(page.range(of: #"<li>money: \$0\.\d\d of \$5\.00</li>"#, options: .regularExpression) != nil)
                #expect(page.contains("<b>two-level</b> (current): block for L2, then pack panels for L1"))
                #expect(page.contains("<b>main</b>: the model's first design"))
                #expect(page.contains("finished: the model called finish"))
                let fourth = try await Self.get(base.appending(path: "runs/\(id)/candidates/4")).body
                #expect(fourth.contains("/* candidate 4, track two-level */"))
                #expect(fourth.contains("Diff against its parent #2"))
                let object = try Self.json(try await Self.get(base.appending(path: "api/runs/\(id)")).body)
                let tracks = try #require(object["tracks"] as? [[String: Any]])
                #expect(tracks.map { $0["name"] as? String } == ["main", "two-level"])
                #expect(tracks.map { $0["is_current"] as? Bool } == [false, true])
            }
        }
    }

    @Test("a run's design tracks, as its journal records them, are on its page and in the API")
    func tracks() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try Self.makeSyntheticRun(in: folder)
            let journal = try Journal(url: store.journalURL(of: id))
            try journal.append(.trackStarted(name: "blocked-k", rationale: "stream K in blocks <to fit L2>"))
            try journal.append(.trackStarted(name: "split-q", rationale: "split queries across threads"))
            try journal.append(.trackSwitched(name: "blocked-k"))
            try await DashboardServer(store: store).withRunning { base in
                let page = try await Self.get(base.appending(path: "runs/\(id)"))
                #expect(page.body.contains("<h2>Design tracks</h2>"))
                #expect(page.body.contains("<b>blocked-k</b> (current): stream K in blocks &lt;to fit L2&gt;"))
                #expect(page.body.contains("<b>split-q</b>: split queries across threads"))
                let object = try Self.json(try await Self.get(base.appending(path: "api/runs/\(id)")).body)
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
            let (store, _) = try Self.makeSyntheticRun(in: folder)
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
            let (store, id) = try Self.makeSyntheticRun(in: folder)
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
