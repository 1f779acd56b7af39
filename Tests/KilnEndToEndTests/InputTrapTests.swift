import Foundation
import KilnAgent
import KilnModelServer
import KilnTesting
import Testing

/// Numbers a user, a file or an endpoint gives that would trap a Double-to-Int conversion (`inf`, `nan`,
/// `1e300`) or overflow a product: each gets a clear error and an exit code, never a crash.
@Suite(.timeLimit(.minutes(5)))
struct InputTrapTests {
    static let matmul = Fixtures.taskFolder("matmul").path
    static let seed = Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c").path

    static func expectClean(_ result: CommandResult, code: Int32, mentions: String, _ what: String) {
        #expect(result.exitCode == code, "\(what): exit \(result.exitCode): \(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(what): \(result.stderr)")
        #expect(
            !result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"),
            "\(what): \(result.stderr)"
        )
    }

    @Test(
        "--timeout, --time and --request-timeout refuse inf, nan and absurd values",
        arguments: ["inf", "nan", "1e300"]
    )
    func flags(value: String) async throws {
        let eval = try await runKiln(["eval", Self.matmul, Self.seed, "--timeout", value])
        Self.expectClean(eval, code: 64, mentions: "--timeout", "--timeout \(value)")
        let time = try await runKiln(["run", Self.matmul, "--time", "\(value)s"])
        Self.expectClean(time, code: 64, mentions: "--time", "--time \(value)s")
        let request = try await runKiln([
            "run", Self.matmul, "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--request-timeout", value,
        ])
        Self.expectClean(request, code: 64, mentions: "request timeout", "--request-timeout \(value)")
    }

    @Test("a --config file is typed: unknown keys, wrong types and inf are refused with the file and line")
    func configFile() async throws {
        try await withTemporaryDirectory { folder in
            let config = folder.appending(path: "kiln.toml")
            try Data(
                """
                [model]
                modle = "gpt-test"
                request_timeout = inf
                stream = "yes"
                """.utf8
            ).write(to: config)
            let result = try await runKiln(["run", Self.matmul, "--config", config.path])
            Self.expectClean(result, code: 64, mentions: "kiln.toml:2", "config")
            #expect(result.stderr.contains("unknown key 'modle'"), "\(result.stderr)")
            #expect(
                result.stderr.contains("kiln.toml:3") && result.stderr.contains("request_timeout"),
                "\(result.stderr)"
            )
            #expect(result.stderr.contains("kiln.toml:4") && result.stderr.contains("stream"), "\(result.stderr)")
        }
    }

    @Test("task.toml's call_timeout = inf and memory_mb = 1e300 are diagnostics with their lines")
    func taskLimits() async throws {
        try await withTemporaryDirectory { folder in
            let task = folder.appending(path: "matmul")
            try FileManager.default.copyItem(at: Fixtures.taskFolder("matmul"), to: task)
            let manifest = task.appending(path: "task.toml")
            var text = try String(contentsOf: manifest, encoding: .utf8)
            text = text.replacingOccurrences(of: "call_timeout = 20.0", with: "call_timeout = inf")
            text = text.replacingOccurrences(of: "memory_mb = 2048", with: "memory_mb = 1e300")
            try Data(text.utf8).write(to: manifest)
            let result = try await runKiln(["eval", task.path, Self.seed, "--correctness-only"])
            Self.expectClean(result, code: 65, mentions: "call_timeout", "task.toml")
            #expect(result.stderr.contains("memory_mb"), "\(result.stderr)")
            #expect(result.stderr.contains("task.toml:"), "\(result.stderr)")
        }
    }

    @Test("a candidate declaring more configurations than can be counted is refused, not overflowed")
    func hugeSearchSpace() async throws {
        try await withTemporaryDirectory { folder in
            var source = ""
            for index in 0..<40 { source += "// kiln:tunable T\(index) 1 2 3 4 5 6 7 8 9 10\n" }
            source += try String(contentsOfFile: Self.seed, encoding: .utf8)
            let candidate = folder.appending(path: "huge.c")
            try Data(source.utf8).write(to: candidate)
            let result = try await runKiln(["eval", Self.matmul, candidate.path, "--correctness-only"])
            Self.expectClean(result, code: 64, mentions: "configurations", "40 tunables")
        }
    }

    @Test("an endpoint's Retry-After: inf is ignored (the client's own backoff applies) and the run goes on")
    func retryAfterInfinity() async throws {
        try await withTemporaryDirectory { folder in
            let script = ModelScript(turns: [
                ModelScript.Turn(status: 429, retryAfterHeader: "inf"),
                ModelScript.Turn(toolCalls: [
                    ModelScript.ScriptedToolCall(name: "finish", arguments: .object(["summary": "done"]))
                ]),
            ])
            let server = ScriptedModelServer(script: script)
            let result = try await server.withRunning { base in
                try await runKiln([
                    "run", Self.matmul, "--model", "m", "--base-url", base.appending(path: "v1").absoluteString,
                    "--no-seed-eval", "--no-stream", "--runs", folder.appending(path: "runs").path, "--cache-dir",
                    Fixtures.sharedCache.path,
                ])
            }
            #expect(result.exitCode == 0, "\(result.stdout)\(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"))
        }
    }
}
