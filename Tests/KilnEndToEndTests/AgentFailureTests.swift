import Foundation
import KilnAgent
import KilnModelServer
import KilnTesting
import Testing

/// Model endpoints that fail: the run says what is wrong, stays resumable, and never shows the key.
@Suite(.timeLimit(.minutes(5)))
struct AgentFailureTests {
    static let secret = "sk-kiln-test-4f9a1c-DO-NOT-LEAK"

    static func files(under folder: URL) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL]) ?? []
    }

    @Test("a rejected key (401) stops the run with a clear message, resumable, and the key appears nowhere")
    func unauthorized() async throws {
        try await withTemporaryDirectory { folder in
            let script = ModelScript(
                turns: [ModelScript.Turn(status: 401, errorBody: ["error": ["message": "invalid api key"]])])
            let server = ScriptedModelServer(script: script, forbiddenSecrets: [Self.secret])
            let runs = folder.appending(path: "runs")
            let result = try await server.withRunning { base in
                try await runKiln(
                    [
                        "run", Fixtures.taskFolder("matmul").path, "--model", "gpt-test", "--base-url",
                        base.appending(path: "v1").absoluteString, "--api-key-env", "KILN_TEST_API_KEY",
                        "--no-seed-eval",
                        "--runs", runs.path, "--cache-dir", Fixtures.sharedCache.path,
                    ],
                    environment: ["KILN_TEST_API_KEY": Self.secret]
                )
            }
            #expect(result.exitCode != 0)
            #expect(result.stderr.contains("KILN_TEST_API_KEY"), "\(result.stderr)")
            #expect(result.stderr.contains("kiln resume"))
            #expect(!result.stderr.contains(Self.secret) && !result.stdout.contains(Self.secret))
            #expect(server.violations.isEmpty, "\(server.violations)")
            for file in Self.files(under: runs) {
                let bytes = (try? Data(contentsOf: file)) ?? Data()
                #expect(bytes.range(of: Data(Self.secret.utf8)) == nil, "the key leaked into \(file.lastPathComponent)")
            }
            let list = try await runKiln(["runs", "--runs", runs.path])
            #expect(list.stdout.contains("interrupted"))
        }
    }

    @Test("a key that a tool prints is redacted before it is journaled or sent to the model")
    func redaction() async throws {
        try await withTemporaryDirectory { folder in
            let half = Self.secret.count / 2
            let first = String(Self.secret.prefix(half))
            let second = String(Self.secret.dropFirst(half))
            // The model's own message never holds the key; the shell's output does.
            let script = ModelScript(turns: [
                ModelScript.Turn(toolCalls: [
                    ModelScript.ScriptedToolCall(
                        name: "shell",
                        arguments: .object(["command": .string("printf '%s%s\\n' '\(first)' '\(second)'")])
                    )
                ]),
                ModelScript.Turn(
                    toolCalls: [
                        ModelScript.ScriptedToolCall(name: "finish", arguments: .object(["summary": .string("done")]))
                    ],
                    expectation: ModelScript.Expectation(toolResultContains: "[redacted]")
                ),
            ])
            let server = ScriptedModelServer(script: script, forbiddenSecrets: [Self.secret])
            let runs = folder.appending(path: "runs")
            let result = try await server.withRunning { base in
                try await runKiln(
                    [
                        "run", Fixtures.taskFolder("matmul").path, "--model", "gpt-test", "--base-url",
                        base.appending(path: "v1").absoluteString, "--api-key-env", "KILN_TEST_API_KEY",
                        "--no-seed-eval", "--no-stream", "--runs", runs.path, "--cache-dir", Fixtures.sharedCache.path,
                    ],
                    environment: ["KILN_TEST_API_KEY": Self.secret]
                )
            }
            #expect(server.violations.isEmpty, "\(server.violations)")
            #expect(!result.stdout.contains(Self.secret) && !result.stderr.contains(Self.secret))
            var sawRedaction = false
            for file in Self.files(under: runs) {
                let bytes = (try? Data(contentsOf: file)) ?? Data()
                #expect(bytes.range(of: Data(Self.secret.utf8)) == nil, "the key leaked into \(file.lastPathComponent)")
                if bytes.range(of: Data("[redacted]".utf8)) != nil { sawRedaction = true }
            }
            #expect(sawRedaction, "no journal holds the redacted tool result")
        }
    }

    @Test("a missing key variable and an unknown provider are usage errors")
    func badConfiguration() async throws {
        let matmul = Fixtures.taskFolder("matmul").path
        let missing = try await runKiln(
            ["run", matmul, "--model", "m", "--provider", "openai"],
            environment: ["OPENAI_API_KEY": ""]
        )
        #expect(missing.exitCode == 64)
        #expect(missing.stderr.contains("OPENAI_API_KEY"))
        let unknown = try await runKiln(["run", matmul, "--model", "m", "--provider", "nope"])
        #expect(unknown.exitCode == 64)
        #expect(unknown.stderr.contains("unknown provider"))
    }
}

@Suite(.timeLimit(.minutes(2)))
struct ModelServerCommandTests {
    @Test("kiln dev model-server serves a script on loopback until interrupted")
    func serves() async throws {
        try await withTemporaryDirectory { folder in
            let script = folder.appending(path: "s.json")
            try Data(#"{"turns": [{"text": "hello"}]}"#.utf8).write(to: script)
            let result = try await runKiln(["dev", "model-server", script.path], signal: SIGINT, after: .seconds(3))
            #expect(
                result.stdout.contains("scripted model server on http://127.0.0.1:"),
                "\(result.stdout)\(result.stderr)"
            )
            let bad = try await runKiln(["dev", "model-server", folder.appending(path: "missing.json").path])
            #expect(bad.exitCode != 0)
            #expect(!bad.stderr.isEmpty)
        }
    }
}
