import Foundation
import GRDB
import KilnTesting
import Testing

/// What the model is told, through the built `kiln` and a scripted model on the cheap matmul task: a
/// large file read is cut at line boundaries and names the missing lines; a written file's body leaves
/// the conversation (the requests hold its path, size and diff); a tune names why a configuration
/// failed; `fresh` and `repeat` measure again; results carry the budgets; the prompt carries the
/// starting point's figures and how budgets are counted.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct AgentToolResultTests {
    /// Appears only in the last lines of the large candidate, which no read in the script shows: no
    /// request may contain it once the file is written.
    static let marker = "KILN_BODY_MARKER_51c7"

    /// The matmul seed with one tunable, `BREAK`, whose value 1 breaks correctness, padded with a block
    /// of comment lines to about 20 KB.
    static func largeCandidate() throws -> String {
        var source = try String(
            contentsOf: Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c"),
            encoding: .utf8
        )
        let declarations = source.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !$0.hasPrefix("// kiln:tunable") && !$0.hasPrefix("// kiln:flags")
        }
        source = declarations.joined(separator: "\n")
        source = source.replacingOccurrences(
            of: "#include <stdint.h>",
            with: "// kiln:tunable BREAK 0 1\n#include <stdint.h>\n#ifndef BREAK\n#define BREAK 0\n#endif"
        )
        let notes = (1...200).map { "/* design note \($0): the packed panels keep the micro-kernel streaming */" }
        source = source.replacingOccurrences(
            of: "/* Packs rows",
            with: notes.joined(separator: "\n") + "\n/* Packs rows"
        )
        let trimmed = source.trimmingCharacters(in: .whitespacesAndNewlines)
        return String(trimmed.dropLast()) + "    if (BREAK) c[0] += 1.0f; /* \(marker) */\n}\n"
    }

    static func call(_ name: String, _ arguments: [String: Any]) -> [String: Any] {
        ["name": name, "arguments": arguments]
    }

    static func script(large: String, edited: String) throws -> Data {
        let lacks: [String: Any] = ["request_lacks": marker]
        func expect(_ more: [String: Any]) -> [String: Any] { lacks.merging(more) { $1 } }
        let turns: [[String: Any]] = [
            ["tool_calls": [call("write_file", ["path": "big.c", "content": large])]],
            [
                "expect": expect(["last_message_contains": "wrote big.c: a new file"]),
                "tool_calls": [call("read_file", ["path": "big.c"])],
            ],
            [
                "expect": expect(["last_message_contains": "of \(lineCount(large)) not shown; read_file with offset="]),
                "tool_calls": [call("write_file", ["path": "big.c", "content": edited])],
            ],
            [
                "expect": expect(["last_message_contains": "+1 -1 lines against the previous version"]),
                "tool_calls": [call("tune", ["path": "big.c", "budget": 2])],
            ],
            [
                "expect": expect([
                    "last_message_contains": "budget: tool calls 4 of 40 (36 left) · evaluations 3 of 30 (27 left)",
                    "tool_result_contains": "BREAK=1 flags#0: wrong_result: shape",
                ]),
                "tool_calls": [call("evaluate", ["path": "big.c", "params": ["BREAK": 0]])],
            ],
            [
                "expect": expect(["last_message_contains": "the cached result of an identical earlier evaluation"]),
                "tool_calls": [call("evaluate", ["path": "big.c", "params": ["BREAK": 0], "fresh": true])],
            ],
            [
                "expect": expect(["last_message_contains": "budget: tool calls 6 of 40"]),
                "tool_calls": [call("evaluate", ["path": "big.c", "repeat": 2])],
            ],
            [
                "expect": expect(["last_message_contains": "2 fresh evaluations: geometric means"]),
                "tool_calls": [
                    call("new_track", ["name": "second", "rationale": "re-run the seed"]),
                    call("evaluate", ["path": "seeds/tiled.c", "compare_with": 1]),
                    call("leaderboard", [:]),
                ],
            ],
            [
                "expect": expect(["last_message_contains": "big.c BREAK=0 flags#0:"]),
                "tool_calls": [
                    call("write_file", ["path": "broken.c", "content": broken]),
                    call("evaluate", ["path": "broken.c", "shapes": ["square-256"]]),
                ],
            ],
            [
                "expect": expect(["last_message_contains": "FAILED (build_failed)"]),
                "tool_calls": [call("finish", ["summary": "measured what the tools say"])],
            ],
        ]
        return try JSONSerialization.data(withJSONObject: ["turns": turns], options: [.prettyPrinted])
    }

    /// A candidate that does not compile.
    static let broken =
        "#include <stdint.h>\nvoid matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) { return 1 }\n"

    static func lineCount(_ text: String) -> Int {
        text.split(separator: "\n", omittingEmptySubsequences: false).count - (text.hasSuffix("\n") ? 1 : 0)
    }

    /// The run's events in order, as kind and JSON payload.
    static func events(_ journal: URL) throws -> [(kind: String, payload: [String: Any])] {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        let rows = try DatabaseQueue(path: journal.path, configuration: configuration).read { db in
            try Row.fetchAll(db, sql: "SELECT kind, payload FROM events ORDER BY seq")
        }
        return try rows.map { row in
            let payload: Data = row["payload"]
            return (row["kind"], try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any]))
        }
    }

    /// The conversation's messages as journaled, each as its case's one-key object.
    static func messages(_ events: [(kind: String, payload: [String: Any])]) throws -> [[String: Any]] {
        try events.filter { $0.kind == "agent_message" }.map { event in
            let text = try #require(event.payload["agent_event_text"] as? String)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let message = try #require(object["message"] as? [String: Any])
            return try #require(message["_0"] as? [String: Any])
        }
    }

    /// The results of a tool, in order.
    static func results(of tool: String, in messages: [[String: Any]]) -> [String] {
        messages.compactMap { message in
            guard let result = message["tool"] as? [String: Any], result["name"] as? String == tool else { return nil }
            return result["content"] as? String
        }
    }

    @Test(
        "the model is told the truth about reads, writes, failed tune configurations, fresh and repeated evaluations and budgets"
    )
    func toolResults() async throws {
        try await withTemporaryDirectory { folder in
            let large = try Self.largeCandidate()
            #expect(large.count > 20_000)
            let edited = large.replacingOccurrences(of: "design note 80:", with: "design note 80 (revised):")
            let scriptURL = folder.appending(path: "script.json")
            try Self.script(large: large, edited: edited).write(to: scriptURL)
            let runs = folder.appending(path: "runs")
            let result = try await runKiln([
                "run", Fixtures.taskFolder("matmul").path, "--model", "scripted:\(scriptURL.path)", "--evals", "30",
                "--max-tool-calls", "40", "--time", "20m", "--min-pairs", "4", "--max-pairs", "4", "--runs",
                runs.path, "--cache-dir", Fixtures.sharedCache.path,
            ])
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            // Every expectation of the script held: the scripted server reports each one that did not.
            #expect(!result.stderr.contains("scripted model:"), "\(result.stderr)")

            // The bookkeeping line keeps the time spent waiting for the model apart from Kiln's own.
            let bookkeeping = try #require(result.stderr.split(separator: "\n").first { $0.hasPrefix("bookkeeping") })
            #expect(bookkeeping.contains("waiting for the model"), "\(bookkeeping)")

            let id = try #require(Fixtures.runIDs(in: runs).first)
            let events = try Self.events(runs.appending(path: "\(id)/journal.sqlite"))
            let messages = try Self.messages(events)

            // The read: whole lines, numbered as in the file, then the lines left out and how to read them.
            let read = try #require(Self.results(of: "read_file", in: messages).first)
            let fileLines = large.split(separator: "\n", omittingEmptySubsequences: false)
            var lastShown = 0
            for row in read.split(separator: "\n") {
                guard let colon = row.firstIndex(of: ":"), let number = Int(row[..<colon]) else { continue }
                #expect(String(row[row.index(colon, offsetBy: 2)...]) == fileLines[number - 1], "line \(number)")
                #expect(number == lastShown + 1)
                lastShown = number
            }
            let total = Self.lineCount(large)
            #expect(lastShown > 10 && lastShown < total)
            #expect(read.contains("lines \(lastShown + 1)-\(total) of \(total) not shown"), "\(read.suffix(300))")
            #expect(!read.contains("characters cut"))

            // The journal keeps what the model sent (a resume can re-run it); the results say what changed.
            let writes = Self.results(of: "write_file", in: messages)
            #expect(writes.count == 3)
            let rewrite = try #require(writes.dropFirst().first)
            #expect(rewrite.contains("@@ "))
            #expect(rewrite.contains("+/* design note 80 (revised):"))
            let sent = messages.compactMap { ($0["assistant"] as? [String: Any])?["toolCalls"] as? [[String: Any]] }
            #expect(sent.flatMap { $0 }.contains { ($0["arguments"] as? String)?.contains(Self.marker) == true })

            // The tune names the failing configuration's reason and gives the best one's figures.
            let tune = try #require(Self.results(of: "tune", in: messages).first)
            let failing = try #require(tune.split(separator: "\n").first { $0.contains("BREAK=1") })
            #expect(failing.contains("wrong_result: shape"), "\(tune)")
            #expect(failing.contains("max abs error"), "\(tune)")
            #expect(tune.contains("best configuration (#"))
            #expect(tune.contains("square-256: "))

            // fresh: true measured again; repeat 2 made two fresh evaluations.
            let finished = events.filter { $0.kind == "evaluation_finished" }.compactMap {
                $0.payload["result"] as? [String: Any]
            }
            let cached = finished.map { $0["is_cached"] as? Bool ?? false }
            #expect(cached.count == 9)
            // seed, tune x2, plain (cached), fresh, repeat x2, seed again (cached), broken.
            #expect(Array(cached[3...6]) == [true, false, false, false], "\(cached)")
            let evaluations = Self.results(of: "evaluate", in: messages)
            #expect(evaluations.allSatisfy { $0.contains("\nbudget: tool calls ") })
            #expect(evaluations[2].contains("2 fresh evaluations: geometric means"))
            // compare_with: the seed again, timed beside its first evaluation in the same pairs.
            #expect(evaluations[3].contains("timed beside #1 in the same pairs: vs #1: "), "\(evaluations[3])")
            #expect(evaluations[3].contains("(95% interval "), "\(evaluations[3])")

            // A compile error is said once: the compiler's output, not its first error line again above it.
            let failure = try #require(evaluations.last)
            let errorLine = try #require(failure.split(separator: "\n").first { $0.contains("error:") })
            #expect(failure.components(separatedBy: String(errorLine)).count == 2, "\(failure)")
            let reason = try #require(finished.last?["failure"] as? String)
            #expect(failure.components(separatedBy: reason).count == 2, "\(failure)")

            // The seed re-run is the seed, not the current track; the leaderboard lists each candidate once.
            let records = events.filter { $0.kind == "candidate_created" }.compactMap {
                $0.payload["candidate_record"] as? [String: Any]
            }
            let seeds = records.filter { $0["file"] as? String == "seeds/tiled.c" }
            #expect(seeds.count == 2)
            #expect(seeds.allSatisfy { $0["design"] as? String == "seed" }, "\(seeds.map { $0["design"] ?? "" })")
            #expect(records.last?["design"] as? String == "second")
            let leaderboard = try #require(Self.results(of: "leaderboard", in: messages).first)
            #expect(leaderboard.components(separatedBy: "big.c BREAK=0").count == 2, "\(leaderboard)")
            #expect(leaderboard.contains("evaluated 5 times"), "\(leaderboard)")
            #expect(leaderboard.contains("budget: "))

            // The prompt: the starting point's figures, the noise Kiln measured, how budgets are counted.
            let prompt = try #require((messages.first?["system"] as? [String: Any])?["_0"] as? String)
            #expect(prompt.contains("Kiln evaluated seeds/tiled.c before you began: correct"))
            #expect(prompt.contains("GB/s (") && prompt.contains("of STREAM triad"))
            #expect(prompt.contains("Noise: the IQR of the seed's per-pair speedup ratios"))
            #expect(prompt.contains("a tune of 8 counts 8"))
            #expect(prompt.contains("an answer with several calls counts each of them"))
            #expect(prompt.contains("a partial-suite result (evaluate with `shapes`) never becomes the best"))

            // kiln show says what an agent run explored instead of an empty search-space section.
            let show = try await runKiln(["show", id, "--runs", runs.path])
            #expect(!show.stdout.contains("## Search space explored"))
            #expect(show.stdout.contains("## Design tracks explored"))
            #expect(show.stdout.contains("- main: "))
        }
    }
}
