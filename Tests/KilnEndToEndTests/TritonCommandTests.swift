import Foundation
import KilnTesting
import Testing

/// The Triton backend through the `kiln` executable, as a user meets it on a machine without a GPU: `kiln
/// eval` checks correctness on the interpreter and says timing is unavailable; `kiln run` tunes a Triton
/// task to a winner file, correctness only; a missing PyTorch is one clear message, and the C backend
/// needs none of it.
@Suite(
    .timeLimit(.minutes(8)),
    .enabled(if: TritonAvailability.isAvailable, "needs a Python with torch and triton (.ci/run installs one)")
)
struct TritonCommandTests {
    let cache = ["--cache-dir", Fixtures.sharedCache.path]
    var attention: String { Fixtures.taskFolder("extend-attention-triton").path }
    var seed: String { Fixtures.taskFolder("extend-attention-triton").appending(path: "seeds/gqa_packed.py").path }

    @Test("kiln eval on the interpreter: per-shape errors, 'timing unavailable without a GPU', exit 0")
    func evalOnTheInterpreter() async throws {
        let result = try await runKiln(["eval", attention, seed, "--shapes", "tiny-prefill,tiny-capped"] + cache)
        #expect(result.exitCode == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("timing unavailable without a GPU"), "\(result.stdout)")
        #expect(result.stdout.contains("device: cpu-interpreter"))
        #expect(result.stdout.contains("tiny-capped"))
        #expect(result.stdout.contains("correct on all 2 shapes (correctness only"), "\(result.stdout)")
        let json = try await runKiln(["eval", attention, seed, "--shapes", "tiny-prefill", "--json"] + cache)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["correct"] as? Bool == true)
        #expect(object["geomean_speedup"] is NSNull)
        #expect((object["timing_unavailable"] as? String)?.contains("without a GPU") == true)
    }

    @Test("a wrong Triton candidate exits with the wrong-result code and names the element, no stack trace")
    func wrongCandidate() async throws {
        let wrong = TritonAvailability.fixture("wrong/no_causal.py").path
        let result = try await runKiln(["eval", attention, wrong, "--shapes", "tiny-prefill"] + cache)
        #expect(result.exitCode == 10, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("FAILED (wrong_result)"))
        #expect(result.stdout.contains("o_extend["))
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test("without PyTorch a Triton task gets one message saying what to install; C tasks need none of it")
    func missingPython() async throws {
        let missing = ["KILN_PYTHON": "/nonexistent/python3"]
        let result = try await runKiln(["eval", attention, seed] + cache, environment: missing)
        #expect(result.exitCode != 0)
        #expect(result.stderr.contains("needs Python 3.11 or later with torch and triton"), "\(result.stderr)")
        #expect(result.stderr.contains("pip install torch triton"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count <= 3, "\(result.stderr)")
        let matmul = Fixtures.taskFolder("matmul")
        let c = try await runKiln(
            ["eval", matmul.path, matmul.appending(path: "seeds/tiled.c").path, "--correctness-only"] + cache,
            environment: missing
        )
        #expect(c.exitCode == 0, "\(c.stderr)")
    }

    @Test("Ctrl-C while Kiln probes Python (PyTorch importing) interrupts the run; it is not 'no Python here'")
    func interruptedWhileProbingPython() async throws {
        try await withTemporaryDirectory { folder in
            // A Python that takes its time to answer, as a cold PyTorch import does on a loaded machine.
            let python = folder.appending(path: "slow-python")
            let probing = folder.appending(path: "probing")
            try "#!/bin/sh\ntouch '\(probing.path)'\nexec sleep 120\n".write(
                to: python,
                atomically: true,
                encoding: .utf8
            )
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
            let runs = folder.appending(path: "runs")
            // A cache of its own (the machine's profile copied in): no other test's probe holds its lock.
            let cache = try await Fixtures.freshCache(in: folder)
            let result = try await runKiln(
                ["run", Fixtures.taskFolder("rmsnorm-triton").path, "--time", "2m", "--runs", runs.path]
                    + ["--cache-dir", cache.path],
                signal: SIGINT,
                after: .seconds(1),
                environment: ["KILN_PYTHON": python.path],
                when: { FileManager.default.fileExists(atPath: probing.path) }
            )
            #expect(result.exitCode == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("interrupted after"), "\(result.stdout)")
            #expect(!result.stderr.contains("needs Python"), "\(result.stderr)")
            let list = try await runKiln(["runs", "--json", "--runs", runs.path])
            #expect(list.stdout.contains("\"status\" : \"interrupted\""), "\(list.stdout)")
        }
    }

    @Test("kiln run tunes a Triton task to a winner.py checked on the interpreter's held-out shapes")
    func runOnTheInterpreter() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let result = try await runKiln(
                ["run", Fixtures.taskFolder("rmsnorm-triton").path, "--evals", "2", "--runs", runs.path] + cache
            )
            #expect(result.exitCode == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("correct (not timed)"), "\(result.stderr)")
            #expect(result.stdout.contains("timing unavailable without a GPU"), "\(result.stdout)")
            #expect(result.stdout.contains("held-out shapes: passed"), "\(result.stdout)")
            let id = try #require(Fixtures.runIDs(in: runs).first)
            let winner = try String(contentsOf: runs.appending(path: "\(id)/winner.py"), encoding: .utf8)
            #expect(winner.contains("def fused_add_rmsnorm"))
            #expect(winner.contains("not timed"))
            let show = try await runKiln(["show", id, "--runs", runs.path])
            #expect(show.exitCode == 0, "\(show.stderr)")
            #expect(show.stdout.contains("correct (not timed)"), "\(show.stdout)")
        }
    }
}
