import Foundation
import GRDB
import KilnTesting
import Testing

/// A scripted model drives a real agent run on extend-attention through the real OpenAI-compatible
/// client, the real tools and the real harness. Runs with such a model are labelled scripted.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct AgentRunTests {
    static func call(_ name: String, _ arguments: [String: Any]) -> [String: Any] {
        ["name": name, "arguments": arguments]
    }

    static func script() throws -> Data {
        let naive = try Fixtures.source("extend-attention/naive.c")
        let seed = try String(
            contentsOf: Fixtures.taskFolder("extend-attention").appending(path: "seeds/blocked.c"),
            encoding: .utf8
        )
        let turns: [[String: Any]] = [
            [
                "text": "I will read the entry point first.",
                "tool_calls": [call("read_file", ["path": "extend_attention.h"])],
            ],
            [
                "expect": ["tool_result_contains": "extend_attention"],
                "tool_calls": [call("write_file", ["path": "naive.c", "content": naive])],
            ],
            ["tool_calls": [call("evaluate", ["path": "naive.c", "shapes": ["mha", "decode-like"]])]],
            [
                "expect": ["tool_result_contains": "correct"],
                "text": "Correct but slow. Now a blocked design.",
                "tool_calls": [
                    call("notes", ["action": "append", "text": "naive: correct, about 1x"]),
                    call("write_file", ["path": "blocked.c", "content": seed]),
                ],
            ],
            ["tool_calls": [call("evaluate", ["path": "blocked.c"])]],
            [
                "expect": ["tool_result_contains": "geometric-mean speedup"],
                "tool_calls": [call("tune", ["path": "blocked.c", "budget": 2])],
            ],
            ["tool_calls": [call("new_track", ["name": "two-level", "rationale": "block queries and keys twice"])]],
            ["tool_calls": [["name": "evaluate", "arguments_raw": "{\"path\": \"blocked.c\""]]],
            [
                "expect": ["tool_result_contains": "not a valid JSON object"],
                "tool_calls": [call("finish", ["summary": "blocked.c beats the naive kernel; tuned it."])],
            ],
        ]
        return try JSONSerialization.data(withJSONObject: ["turns": turns], options: [.prettyPrinted])
    }

    @Test(
        "a scripted run writes a faster design through the tools, evaluates, tunes, starts a second track, and finishes"
    )
    func scriptedRun() async throws {
        try await withTemporaryDirectory { folder in
            let scriptURL = folder.appending(path: "script.json")
            try Self.script().write(to: scriptURL)
            let runs = folder.appending(path: "runs")
            let result = try await runKiln(
                [
                    "run", Fixtures.taskFolder("extend-attention").path, "--model", "scripted:\(scriptURL.path)",
                    "--no-seed-eval", "--time", "20m", "--min-pairs", "3", "--max-pairs", "4", "--runs", runs.path,
                    "--cache-dir", Fixtures.sharedCache.path,
                ])
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("best speedup:"), "\(result.stdout)")
            let id = try #require(try FileManager.default.contentsOfDirectory(atPath: runs.path).first)
            let journal = try DatabaseQueue(path: runs.appending(path: "\(id)/journal.sqlite").path)
            let kinds = try await journal.read { db in
                try String.fetchAll(db, sql: "SELECT kind FROM events ORDER BY seq")
            }
            #expect(kinds.contains("best_improved"))
            #expect(kinds.filter { $0 == "track_started" }.count == 2)
            #expect(kinds.filter { $0 == "evaluation_finished" }.count >= 4)
            #expect(kinds.contains("agent_compacted") == false)
            #expect(kinds.last == "finished")
            let winner = try String(contentsOf: runs.appending(path: "\(id)/winner.c"), encoding: .utf8)
            #expect(winner.contains("held-out shapes: passed"))
            let report = try String(contentsOf: runs.appending(path: "\(id)/report.html"), encoding: .utf8)
            #expect(report.contains("scripted:"))
            let list = try await runKiln(["runs", "--runs", runs.path])
            #expect(list.stdout.contains("scripted:"))
        }
    }
}
