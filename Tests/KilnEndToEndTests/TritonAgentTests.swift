import Foundation
import KilnTesting
import Testing

/// The agent's tools on a Triton task, through the built `kiln` and a scripted model, on Triton's CPU
/// interpreter: the prompt says what a Triton candidate is and that nothing is timed here; the model reads
/// the signature, writes a Python candidate, evaluates and tunes it, and sees correctness-only results,
/// never a speed; the run ends with a `winner.py`.
@Suite(
    .timeLimit(.minutes(8)),
    .enabled(if: TritonAvailability.isAvailable, "needs a Python with torch and triton (.ci/run installs one)")
)
struct TritonAgentTests {
    static func call(_ name: String, _ arguments: [String: Any]) -> [String: Any] {
        ["name": name, "arguments": arguments]
    }

    @Test("a scripted model works a Triton task through the tools, told the truth about what is timed")
    func scriptedRun() async throws {
        try await withTemporaryDirectory { folder in
            let task = Fixtures.taskFolder("rmsnorm-triton")
            let seed = try String(contentsOf: task.appending(path: "seeds/multi_row.py"), encoding: .utf8)
            let candidate = "# a copy of the seed, by the model\n" + seed
            let turns: [[String: Any]] = [
                [
                    "expect": ["last_message_contains": "signature file"],
                    "tool_calls": [Self.call("read_file", ["path": "signature.py"])],
                ],
                [
                    "expect": ["last_message_contains": "def fused_add_rmsnorm"],
                    "tool_calls": [Self.call("write_file", ["path": "mine.py", "content": candidate])],
                ],
                [
                    "tool_calls": [Self.call("evaluate", ["path": "mine.py", "shapes": ["tiny-fp16"]])]
                ],
                [
                    "expect": ["last_message_contains": "not timed: timing unavailable without a GPU"],
                    "tool_calls": [Self.call("tune", ["path": "mine.py", "budget": 1])],
                ],
                [
                    "expect": ["last_message_contains": "correct (not timed)"],
                    "tool_calls": [Self.call("finish", ["summary": "a correct Triton kernel"])],
                ],
            ]
            let script = folder.appending(path: "script.json")
            try JSONSerialization.data(withJSONObject: ["turns": turns]).write(to: script)
            let runs = folder.appending(path: "runs")
            let result = try await runKiln([
                "run", task.path, "--model", "scripted:\(script.path)", "--evals", "8", "--time", "10m", "--runs",
                runs.path, "--cache-dir", Fixtures.sharedCache.path,
            ])
            #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(!result.stderr.contains("scripted model:"), "\(result.stderr)")
            let id = try #require(Fixtures.runIDs(in: runs).first)
            let workspace = runs.appending(path: "\(id)/workspace")
            #expect(FileManager.default.fileExists(atPath: workspace.appending(path: "signature.py").path))
            #expect(FileManager.default.fileExists(atPath: runs.appending(path: "\(id)/winner.py").path))
            #expect(!result.stdout.contains("0.00x"), "\(result.stdout)")
            let messages = try AgentToolResultTests.messages(
                try AgentToolResultTests.events(runs.appending(path: "\(id)/journal.sqlite"))
            )
            let prompts = messages.compactMap { ($0["system"] as? [String: Any])?["_0"] as? String }
            let system = try #require(prompts.first)
            #expect(system.contains("Triton (Python) function `fused_add_rmsnorm`"))
            #expect(system.contains("# kiln:tunable NAME"))
            #expect(system.contains("cpu-interpreter: timing unavailable without a GPU"))
            #expect(system.contains("float16 max abs"))
            #expect(!system.contains("OpenMP"))
        }
    }
}
