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
            // The script's expectations held (the scripted server reports each one that did not).
            #expect(!result.stderr.contains("scripted model:"), "\(result.stderr)")
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

/// Budgets, nudges, configuration files and kill-and-resume of agent runs, on the cheap matmul task.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AgentBudgetTests {
    static func write(_ turns: [[String: Any]], to url: URL) throws {
        try JSONSerialization.data(withJSONObject: ["turns": turns]).write(to: url)
    }

    static var evaluateTurn: [String: Any] {
        [
            "tool_calls": [
                ["name": "evaluate", "arguments": ["path": "seeds/tiled.c", "shapes": ["odd-193x257x131"]]]
            ]
        ]
    }

    func runs(in folder: URL) -> [String] {
        Fixtures.runIDs(in: folder.appending(path: "runs"))
    }

    @Test("a model that stops calling tools is nudged, then the run ends; a tool-call budget stops a run")
    func nudgesAndBudgets() async throws {
        try await withTemporaryDirectory { folder in
            let idle = folder.appending(path: "idle.json")
            try Self.write(
                [["text": "thinking"], ["text": "still thinking"], ["text": "done, I think"], ["text": "bye"]],
                to: idle
            )
            let config = folder.appending(path: "kiln.toml")
            try "[model]\nmodel = \"scripted:\(idle.path)\"\nmax_tool_calls = 50\n".write(
                to: config,
                atomically: true,
                encoding: .utf8
            )
            let first = try await runKiln(
                [
                    "run", Fixtures.taskFolder("matmul").path, "--config", config.path, "--no-seed-eval", "--runs",
                    folder.appending(path: "runs").path, "--cache-dir", Fixtures.sharedCache.path,
                ])
            #expect(first.exitCode == 0, "\(first.stderr)")
            let show = try await runKiln([
                "show", try #require(runs(in: folder).first), "--runs", folder.appending(path: "runs").path,
            ])
            #expect(show.stdout.contains("proposer: scripted:"))

            let busy = folder.appending(path: "busy.json")
            try Self.write(Array(repeating: Self.evaluateTurn, count: 10), to: busy)
            let second = try await runKiln(
                [
                    "run", Fixtures.taskFolder("matmul").path, "--model", "scripted:\(busy.path)", "--max-tool-calls",
                    "3",
                    "--no-seed-eval", "--min-pairs", "1", "--max-pairs", "1", "--runs",
                    folder.appending(path: "runs").path,
                    "--cache-dir", Fixtures.sharedCache.path,
                ])
            #expect(second.exitCode == 0, "\(second.stderr)")
            #expect(
                second.stderr.contains("budget reached: tool calls") || second.stdout.contains("(budget)"),
                "\(second.stdout)\(second.stderr)"
            )
        }
    }

    @Test("an agent run killed mid-run resumes without repeating an answered request or an evaluation")
    func killAndResume() async throws {
        try await withTemporaryDirectory { folder in
            let script = folder.appending(path: "s.json")
            var turns: [[String: Any]] = []
            for index in 0..<12 {
                turns.append(
                    index % 2 == 0
                        ? Self.evaluateTurn
                        : ["tool_calls": [["name": "notes", "arguments": ["action": "append", "text": "n\(index)"]]]]
                )
            }
            turns.append(["tool_calls": [["name": "finish", "arguments": ["summary": "done"]]]])
            try Self.write(turns, to: script)
            let runsFolder = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let common = ["--runs", runsFolder.path, "--cache-dir", cache.path]
            /// The run's journal, event kinds in order.
            func journalKinds(of id: String) async throws -> [String] {
                var configuration = GRDB.Configuration()
                configuration.readonly = true
                let journal = try DatabaseQueue(
                    path: runsFolder.appending(path: "\(id)/journal.sqlite").path,
                    configuration: configuration
                )
                return try await journal.read { db in
                    try String.fetchAll(db, sql: "SELECT kind FROM events ORDER BY seq")
                }
            }
            /// Whether a SIGKILL that just landed caught the run in progress: its journal exists and
            /// has not finished.
            func caughtInProgress() async throws -> Bool {
                guard let id = runs(in: folder).first else { return false }
                return try await journalKinds(of: id).last != "finished"
            }
            var killed = false
            var killsInProgress = 0
            // A machine busy with the rest of the suite can take longer than the first delay to start the
            // run at all: each try waits two seconds longer.
            for attempt in 0..<4 where runs(in: folder).isEmpty {
                killed = try await runKilnAndKill(
                    [
                        "run", Fixtures.taskFolder("matmul").path, "--model", "scripted:\(script.path)",
                        "--no-seed-eval",
                        "--min-pairs", "2", "--max-pairs", "2",
                    ] + common,
                    after: .milliseconds(Int.random(in: 1500...3000) + attempt * 2000)
                )
                if killed, try await caughtInProgress() { killsInProgress += 1 }
            }
            let id = try #require(runs(in: folder).first)
            var kills = killed ? 1 : 0
            while killed, kills < 3 {
                killed = try await runKilnAndKill(
                    ["resume", id] + common,
                    after: .milliseconds(Int.random(in: 1200...2500))
                )
                if killed {
                    kills += 1
                    if try await caughtInProgress() { killsInProgress += 1 }
                }
            }
            // Without a kill mid-run there was nothing to resume from, and the test would prove nothing.
            #expect(killsInProgress >= 1, "no SIGKILL landed while the run was in progress")
            let final = try await runKiln(["resume", id] + common)
            #expect(final.exitCode == 0 || final.stderr.contains("already finished"), "\(final.stderr)")
            let kinds = try await journalKinds(of: id)
            #expect(kinds.filter { $0 == "agent_response" }.count == 13)
            #expect(kinds.filter { $0 == "evaluation_finished" }.count == 6)
            #expect(kinds.filter { $0 == "candidate_created" }.count == 6)
            #expect(kinds.last == "finished")
        }
    }
}
