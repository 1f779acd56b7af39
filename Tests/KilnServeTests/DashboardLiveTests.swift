import AsyncHTTPClient
import Foundation
import KilnHarness
import KilnRun
import KilnServe
import KilnTask
import KilnTesting
import NIOCore
import Synchronization
import Testing

/// The dashboard's live views on journals written from values: server-sent events as a run's journal
/// grows, shared renders, and pages in a real browser (live updates of a real run are in
/// ``DashboardEndToEndTests``).
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

    @Test("a viewer that says what it has seen gets the events written since at once")
    func catchUp() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try DashboardTests.makeSyntheticRun(in: folder)
            try await DashboardServer(store: store, pollInterval: .milliseconds(100)).withRunning { base in
                let text = try await Self.follow(base, id, query: [.init(name: "after", value: "1")]) {
                    $0.contains("event: update")
                }
                let last = try Journal(url: store.journalURL(of: id), readOnly: true).lastSequence()
                #expect(text.contains("id: \(last)\nevent: update"))
            }
        }
    }

    @Test(
        "the viewers of a run share one render per journal event, and each update carries the page's live part",
        arguments: [false, true]
    )
    func sharedRender(slowly: Bool) async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try DashboardTests.makeSyntheticRun(in: folder)
            // Slowly: the update's render takes 1.5 s, as on a loaded machine where the viewers wake late; they
            // still share it (a render is reused for its sequence, whatever its age).
            let slow = Atomic<Bool>(false)
            let server = DashboardServer(store: store, pollInterval: .milliseconds(200)) { _ in
                if slow.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 1.5) }
            }
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
                    slow.store(slowly, ordering: .relaxed)
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
        "in a real headless browser the runs list renders and a run page shows the best speedup",
        .enabled(if: HeadlessBrowser.executable != nil, "needs chromium-headless-shell (installed by .ci/run)")
    )
    func browser() async throws {
        try await withTemporaryDirectory { folder in
            let (store, id) = try DashboardTests.makeSyntheticRun(in: folder)
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
