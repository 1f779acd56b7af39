import Foundation
import GRDB
import KilnAgent
import KilnHarness
import KilnRun
import KilnTesting
import Testing

/// Journals written by the last Kiln that landed (Tests/Fixtures/journals, see its README): every later
/// Kiln must read them as they were written. Their resumption is tested end to end in GoldenResumeTests.
@Suite struct GoldenJournalTests {
    static func withCopy<R>(of fixture: String, _ body: (Journal, URL) throws -> R) async throws -> R {
        try await withTemporaryDirectory { folder in
            let url = folder.appending(path: "journal.sqlite")
            try FileManager.default.copyItem(at: Fixtures.file("journals/\(fixture)"), to: url)
            return try body(try Journal(url: url), url)
        }
    }

    @Test("a tuner run journaled by stop 8 folds to the state it held: 5 evaluations, a best, interrupted")
    func tunerRun() async throws {
        try await Self.withCopy(of: "stop8-tuner-interrupted.sqlite") { journal, _ in
            let state = RunState(entries: try journal.entries())
            #expect(state.eventCount == 22)
            #expect(state.finishedEvaluations == 5)
            #expect(state.isInterrupted)
            #expect(state.outcome == nil)
            let settings = try #require(state.settings)
            #expect(settings.proposer == "tuner")
            #expect(settings.designs.map(\.name) == ["tiled"])
            #expect(settings.maxEvaluations == 20)
            #expect((state.bestSpeedup ?? 0) > 1)
            #expect(state.leaderboard.count == 5)
            // Results journaled before the sandbox existed read as sandboxed, with no CPU figures.
            let result = try #require(state.candidates[1]?.result)
            #expect(result.isSandboxed)
            #expect(result.shapes.allSatisfy { $0.candidateCPUSeconds == nil })
        }
    }

    @Test("an agent run journaled by stop 8 folds to its conversation, tracks, candidates and endpoint")
    func agentRun() async throws {
        try await Self.withCopy(of: "stop8-agent-interrupted.sqlite") { journal, _ in
            let state = RunState(entries: try journal.entries())
            #expect(state.isInterrupted)
            #expect(state.finishedEvaluations == 2)
            #expect(state.agent.toolCalls == 5)
            #expect(state.answeredModelRequests == 5)
            #expect(state.tracks.map(\.name) == ["main", "wide"])
            #expect(state.currentTrack == "wide")
            let agent = try #require(state.settings?.agent)
            #expect(agent.label == "scripted:script.json")
            #expect(agent.endpoint.requestTimeout == .seconds(300))
            #expect(agent.endpoint.isStreaming)
            #expect(agent.contextLimit == 128_000)
            guard case .system(let prompt) = state.agent.messages.first else {
                Issue.record("the conversation does not start with the system prompt")
                return
            }
            #expect(prompt.contains("matmul"))
            let calls = state.agent.messages.compactMap { message -> [String]? in
                if case .assistant(_, let calls) = message { return calls.map(\.name) }
                return nil
            }
            #expect(calls.flatMap { $0 } == ["read_file", "notes", "evaluate", "new_track", "evaluate"])
        }
    }

    @Test("every journaled agent event is written back as the same JSON stop 8 wrote")
    func agentEventsKeepTheirBytes() async throws {
        try await Self.withCopy(of: "stop8-agent-interrupted.sqlite") { _, url in
            let rows = try DatabaseQueue(path: url.path).read { db in
                try Row.fetchAll(db, sql: "SELECT kind, payload FROM events WHERE kind LIKE 'agent_%' ORDER BY seq")
            }
            #expect(rows.count > 10)
            for row in rows {
                let payload: Data = row["payload"]
                let object = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
                let text = try #require(object["agent_event_text"] as? String)
                let event = try JSONDecoder().decode(AgentEvent.self, from: Data(text.utf8))
                let again = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
                #expect(
                    try Self.canonical(Data(again.utf8)) == Self.canonical(Data(text.utf8)),
                    "\(row["kind"] as String): \(text.prefix(200))"
                )
            }
        }
    }

    @Test("every key stop 8 wrote is still written with the same value (new keys may be added)")
    func payloadsKeepTheirKeys() async throws {
        for fixture in ["stop8-tuner-interrupted.sqlite", "stop8-agent-interrupted.sqlite"] {
            try await Self.withCopy(of: fixture) { journal, url in
                let rows = try DatabaseQueue(path: url.path).read { db in
                    try Row.fetchAll(db, sql: "SELECT kind, payload FROM events ORDER BY seq")
                }
                let entries = try journal.entries()
                #expect(entries.count == rows.count)
                for (row, entry) in zip(rows, entries) {
                    let stored = try JSONSerialization.jsonObject(with: row["payload"] as Data)
                    let written = try JSONSerialization.jsonObject(with: try entry.event.encodedPayload())
                    let missing = Self.missing(stored, in: written, path: row["kind"] as String)
                    #expect(missing.isEmpty, "\(fixture): \(missing.prefix(5))")
                }
            }
        }
    }

    /// Keys (with their values) of `old` that `new` lacks or holds differently; nested objects compared
    /// key by key, so that keys added since stop 8 are allowed.
    static func missing(_ old: Any, in new: Any, path: String) -> [String] {
        switch (old, new) {
        case let (old as [String: Any], new as [String: Any]):
            return old.flatMap { key, value -> [String] in
                guard let counterpart = new[key] else { return ["\(path).\(key) is gone"] }
                return missing(value, in: counterpart, path: "\(path).\(key)")
            }
        case let (old as [Any], new as [Any]):
            guard old.count == new.count else { return ["\(path) has \(new.count) elements, not \(old.count)"] }
            return zip(old, new).enumerated().flatMap { index, pair in
                missing(pair.0, in: pair.1, path: "\(path)[\(index)]")
            }
        case let (old as String, new as String) where path.hasSuffix("agent_event_text"):
            // JSON text inside the payload, its keys in no fixed order: compared as JSON.
            let same = (try? canonical(Data(old.utf8))) == (try? canonical(Data(new.utf8)))
            return same ? [] : ["\(path): \(old.prefix(120)) became \(new.prefix(120))"]
        default:
            return "\(old)" == "\(new)" ? [] : ["\(path): \(old) became \(new)"]
        }
    }

    static func canonical(_ data: Data) throws -> String {
        let object = try JSONSerialization.jsonObject(with: data)
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]),
            as: UTF8.self
        )
    }
}
