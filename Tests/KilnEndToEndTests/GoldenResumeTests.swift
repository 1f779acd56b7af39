import Foundation
import GRDB
import KilnTask
import KilnTesting
import Testing

/// Runs journaled by the last Kiln that landed (Tests/Fixtures/journals) resume with today's `kiln` and
/// finish. Their task has changed since (its instance file moved to kiln_alloc), so each test first
/// points the journal at today's bundled task: what is tested is the journal, not the task check.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct GoldenResumeTests {
    /// Copies a golden journal into a runs folder under its own id, aimed at today's bundled matmul.
    static func place(_ fixture: String, in runs: URL, maxEvaluations: Int? = nil) throws -> String {
        let scratch = runs.appending(path: ".golden-\(UUID().uuidString).sqlite")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.file("journals/\(fixture)"), to: scratch)
        let task = try Fixtures.task("matmul")
        let database = try DatabaseQueue(path: scratch.path)
        let id: String = try database.write { db in
            let payload: Data = try #require(try Data.fetchOne(db, sql: "SELECT payload FROM events WHERE seq = 1"))
            var object = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
            var settings = try #require(object["settings"] as? [String: Any])
            settings["task_path"] = task.folder.path
            settings["task_hash"] = task.contentHash
            if let maxEvaluations { settings["max_evaluations"] = maxEvaluations }
            object["settings"] = settings
            let rewritten = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            try db.execute(sql: "UPDATE events SET payload = ? WHERE seq = 1", arguments: [rewritten])
            return try #require(settings["id"] as? String)
        }
        try database.close()
        let folder = runs.appending(path: id)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: scratch, to: folder.appending(path: "journal.sqlite"))
        return id
    }

    static func kinds(of id: String, in runs: URL) throws -> [String] {
        let database = try DatabaseQueue(path: runs.appending(path: "\(id)/journal.sqlite").path)
        return try database.read { db in try String.fetchAll(db, sql: "SELECT kind FROM events ORDER BY seq") }
    }

    @Test("a tuner run journaled by stop 8 resumes with today's kiln and finishes at its budget")
    func tunerRunResumes() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let id = try Self.place("stop8-tuner-interrupted.sqlite", in: runs, maxEvaluations: 7)
            let cache = try await Fixtures.freshCache(in: folder)
            let result = try await runKiln(["resume", id, "--runs", runs.path, "--cache-dir", cache.path])
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            let kinds = try Self.kinds(of: id, in: runs)
            #expect(kinds.filter { $0 == "evaluation_finished" }.count == 7, "\(kinds)")
            #expect(kinds.contains("resumed"))
            #expect(kinds.last == "finished")
        }
    }

    @Test("an agent run journaled by stop 8 resumes where it stopped, asks nothing twice, and finishes")
    func agentRunResumes() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let id = try Self.place("stop8-agent-interrupted.sqlite", in: runs)
            try FileManager.default.copyItem(
                at: Fixtures.file("journals/stop8-agent-workspace"),
                to: runs.appending(path: "\(id)/workspace")
            )
            // The run names its script as `script.json`, relative to where it was started.
            try FileManager.default.copyItem(
                at: Fixtures.file("journals/stop8-agent-script.json"),
                to: folder.appending(path: "script.json")
            )
            let cache = try await Fixtures.freshCache(in: folder)
            let before = try Self.kinds(of: id, in: runs)
            let result = try await runKiln(
                ["resume", id, "--runs", runs.path, "--cache-dir", cache.path],
                in: folder
            )
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            let after = try Self.kinds(of: id, in: runs)
            let added = Array(after.dropFirst(before.count))
            // One more request (the script's last turn, finish), never one already answered.
            #expect(added.filter { $0 == "agent_request" }.count == 1, "\(added)")
            #expect(after.last == "finished", "\(added)")
        }
    }
}
