import Foundation
import KilnTesting
import Testing

/// Runs the built `kiln` executable and checks what a user sees: output, exit codes, no stack traces.
@Suite(.timeLimit(.minutes(5)))
struct EvalCommandTests {
    let cache = ["--cache-dir", Fixtures.sharedCache.path]
    let matmul = Fixtures.taskFolder("matmul").path
    var seed: String { Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c").path }

    @Test("prints its version and help")
    func versionAndHelp() async throws {
        let version = try await runKiln(["--version"])
        #expect(version.exitCode == 0)
        #expect(version.stdout.contains("0."))
        let help = try await runKiln(["eval", "--help"])
        #expect(help.exitCode == 0)
        #expect(help.stdout.contains("Exit codes"))
    }

    @Test("--json prints one object with correct, geomean_speedup and failure, and exits 0")
    func json() async throws {
        let result = try await runKiln(
            ["eval", matmul, seed, "--json", "--min-pairs", "2", "--max-pairs", "3"] + cache
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        )
        #expect(object["correct"] as? Bool == true)
        #expect((object["geomean_speedup"] as? Double ?? 0) > 0)
        #expect(object["failure"] is NSNull)
        let shapes = try #require(object["shapes"] as? [[String: Any]])
        #expect(shapes.count >= 3)
        #expect(shapes.allSatisfy { ($0["speedup"] as? Double ?? 0) > 0 })
    }

    @Test(
        "--compare-with times another candidate in the same pairs: a ratio per shape and a verdict, in the table and in JSON"
    )
    func compareWith() async throws {
        let baseline = Fixtures.taskFolder("matmul").appending(path: "baseline.c").path
        let arguments = ["eval", matmul, seed, "--compare-with", baseline, "--shapes", "square-256", "--no-cache"]
        let table = try await runKiln(arguments + ["--min-pairs", "6", "--max-pairs", "6"] + cache)
        #expect(table.exitCode == 0, "\(table.stderr)")
        #expect(table.stdout.contains("vs rival"), "\(table.stdout)")
        #expect(table.stdout.contains("vs \(baseline): "), "\(table.stdout)")
        #expect(table.stdout.contains("): better, over 1 shapes timed in the same pairs"), "\(table.stdout)")
        let json = try await runKiln(arguments + ["--json", "--min-pairs", "2", "--max-pairs", "2"] + cache)
        #expect(json.exitCode == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let comparison = try #require(object["comparison"] as? [String: Any], "\(json.stdout)")
        #expect(comparison["rival"] as? String == baseline)
        #expect(["better", "same", "worse"].contains(comparison["verdict"] as? String ?? ""))
        let shapes = try #require(object["shapes"] as? [[String: Any]])
        #expect((shapes.first?["versus"] as? Double ?? 0) > 0)
    }

    @Test("identical work is found by content hash and not redone")
    func cached() async throws {
        let arguments = [
            "eval", matmul, seed, "--json", "--shapes", "square-256", "--min-pairs", "2", "--max-pairs", "2",
        ]
        _ = try await runKiln(arguments + cache)
        let second = try await runKiln(arguments + cache)
        #expect(second.exitCode == 0)
        #expect(second.stdout.contains("\"is_cached\" : true"))
    }

    @Test("the table names each shape and the geometric mean")
    func table() async throws {
        let result = try await runKiln(["eval", matmul, seed, "--min-pairs", "2", "--max-pairs", "2"] + cache)
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout.contains("geometric-mean speedup"))
        #expect(result.stdout.contains("square-256"))
        #expect(result.stdout.contains("of peak"))
    }

    @Test(
        "candidate failures exit with their own codes",
        arguments: [
            ("hostile/syntax_error.c", Int32(11), "error"),
            ("hostile/no_write.c", 10, "NaN"),
            ("hostile/segfault.c", 12, "segmentation fault"),
            ("hostile/modify_input.c", 14, "modified its inputs"),
        ]
    )
    func candidateFailures(fixture: String, code: Int32, text: String) async throws {
        let result = try await runKiln(
            ["eval", matmul, Fixtures.file(fixture).path, "--correctness-only", "--no-cache"] + cache
        )
        #expect(result.exitCode == code, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(text))
    }

    @Test("a timeout exits 13")
    func timeout() async throws {
        let result = try await runKiln(
            ["eval", matmul, Fixtures.file("hostile/infinite_loop.c").path, "--correctness-only", "--timeout", "1"]
                + ["--no-cache"] + cache
        )
        #expect(result.exitCode == 13)
    }

    @Test(
        "bad input gets one clear message and its exit code, never a stack trace",
        arguments: [
            (["eval", "/nonexistent/task", "x.c"], Int32(66), "no such task folder"),
            (["eval", "TASK", "/nonexistent/candidate.c"], 66, "no such candidate file"),
            (["eval", "TASK", "SEED", "--shapes", "nope"], 64, "unknown shape 'nope'"),
            (["eval", "TASK", "SEED", "--param", "NOPE=1"], 64, "does not set a declared tunable"),
            (
                ["eval", "TASK", "SEED", "--compare-with", "/nonexistent/rival.c"], 66,
                "cannot read the candidate to compare with"
            ),
            (
                ["eval", "TASK", "SEED", "--compare-with", "SEED", "--compare-param", "NOPE=1"], 64,
                "does not set a declared tunable"
            ),
            (["eval", "TASK"], 64, "Missing expected argument"),
            (["frobnicate"], 64, "Unexpected argument"),
        ]
    )
    func badInput(arguments: [String], code: Int32, text: String) async throws {
        let resolved = arguments.map { $0 == "TASK" ? matmul : $0 == "SEED" ? seed : $0 }
        let result = try await runKiln(resolved + (arguments.count > 1 ? cache : []))
        #expect(result.exitCode == code, "\(result.stderr)")
        #expect(result.stderr.contains(text), "\(result.stderr)")
        #expect(!result.stderr.contains("Stack dump"))
        #expect(result.stderr.split(separator: "\n").count <= 8)
    }

    @Test("a malformed task file exits 65 naming file and line")
    func malformedTask() async throws {
        try await withTemporaryDirectory { folder in
            try "name = \"x\"\n[[suite]\n".write(
                to: folder.appending(path: "task.toml"),
                atomically: true,
                encoding: .utf8
            )
            let result = try await runKiln(["eval", folder.path, seed] + cache)
            #expect(result.exitCode == 65)
            #expect(result.stderr.contains("task.toml:2"))
        }
    }
}
