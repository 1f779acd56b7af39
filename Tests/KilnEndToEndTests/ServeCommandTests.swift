import AsyncHTTPClient
import Foundation
import KilnTesting
import NIOCore
import Subprocess
import SystemPackage
import Testing

@Suite(.timeLimit(.minutes(3)))
struct ServeCommandTests {
    @Test("kiln serve announces its address, serves a live stream, and stops cleanly on Ctrl-C with a viewer connected")
    func servesAndStops() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let made = try await runKiln(
                ["run", Fixtures.taskFolder("matmul").path, "--evals", "1", "--min-pairs", "2", "--max-pairs", "2"]
                    + ["--runs", runs.path, "--cache-dir", Fixtures.sharedCache.path]
            )
            #expect(made.exitCode == 0, "\(made.stderr)")
            let id = try #require(try FileManager.default.contentsOfDirectory(atPath: runs.path).first)
            let result = try await Subprocess.run(
                .path(FilePath(Fixtures.kilnExecutable.path)),
                arguments: ["serve", "--port", "0", "--runs", runs.path],
                input: .none,
                output: .sequence,
                error: .discarded
            ) { execution -> (streamed: String, stopped: Duration) in
                var announced = ""
                for try await line in execution.standardOutput.strings() {
                    announced += line
                    if line.contains("dashboard on") { break }
                }
                let port = try #require(
                    announced.firstMatch(of: /127\.0\.0\.1:(\d+)/).map { String($0.output.1) }
                )
                let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/runs/\(id)/stream")
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                var streamed = ""
                var asked = ContinuousClock.now
                for try await chunk in response.body {
                    streamed += String(buffer: chunk)
                    if streamed.contains("event: hello"), !streamed.contains("signalled") {
                        streamed += "signalled"
                        asked = .now
                        try execution.send(signal: .interrupt)
                    }
                }
                // The body ends only when the server finishes the stream on its way down.
                return (streamed, ContinuousClock.now - asked)
            }
            #expect(result.terminationStatus == .exited(0))
            #expect(result.closureResult.streamed.contains("event: hello"))
            #expect(result.closureResult.stopped < .seconds(5))
        }
    }

    @Test(
        "kiln serve refuses a non-loopback address without a token, and a refresh interval out of range",
        arguments: [
            (["--host", "0.0.0.0"], "token"),
            (["--refresh", "0"], "--refresh must be between 0.1 and 60 seconds"),
            (["--refresh", "soon"], "--refresh"),
        ]
    )
    func refusesBadArguments(arguments: [String], message: String) async throws {
        try await withTemporaryDirectory { folder in
            let result = try await runKiln(["serve", "--port", "0", "--runs", folder.path] + arguments)
            #expect(result.exitCode != 0)
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"))
        }
    }
}
