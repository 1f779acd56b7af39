import AsyncHTTPClient
import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnServe
import KilnTesting
import Testing

/// A Triton task through the dashboard and MCP on a machine without a GPU: a real tuner run on Triton's
/// interpreter is shown as correct but not timed, and MCP describes and evaluates Triton tasks by their
/// own rules.
@Suite(
    .timeLimit(.minutes(8)),  // 233 s, then over 300 s, under the whole suite's load
    .enabled(if: TritonAvailability.isAvailable, "needs a Python with torch and triton (.ci/run installs one)")
)
struct TritonServeTests {
    @Test("the dashboard shows a Triton run's candidates as correct, not timed, with its winner")
    func dashboard() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder.appending(path: "runs"))
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
            var options = RunOptions()
            options.maxEvaluations = 1
            let task = try Fixtures.task("rmsnorm-triton")
            let (id, state) = try await orchestrator.start(
                task: task,
                taskPath: Fixtures.taskFolder("rmsnorm-triton").path,
                options: options
            )
            #expect(state.outcome?.winner == 1, "\(state.outcome.map { "\($0)" } ?? "no outcome")")
            #expect(state.outcome?.winnerFile == "winner.py")
            try await DashboardServer(store: store).withRunning { base in
                let page = try await DashboardTests.get(base.appending(path: "runs/\(id)"))
                #expect(page.status == 200)
                #expect(page.body.contains("correct (not timed)"), "\(page.body.prefix(400))")
                let candidate = try await DashboardTests.get(base.appending(path: "runs/\(id)/candidates/1"))
                #expect(
                    candidate.body.contains("correct · correct (not timed)") || candidate.body.contains("not timed")
                )
                #expect(candidate.body.contains("kiln:tunable"))
            }
        }
    }

    @Test("MCP describes a Triton task with its backend's rules and evaluates a Triton source")
    func mcp() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder.appending(path: "runs"))
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
            let server = KilnMCPServer(tasksFolder: Fixtures.root.appending(path: "tasks"), orchestrator: orchestrator)
            let described = await server.call("describe_task", arguments: ["task": "extend-attention-triton"])
            #expect(!described.isError, "\(described.content)")
            #expect(described.content.contains("backend: triton"))
            #expect(described.content.contains("timing unavailable without a GPU"))
            #expect(described.content.contains("# kiln:tunable NAME"))
            #expect(described.content.contains("tiny-prefill"), "the interpreter's shapes are the suite here")
            #expect(described.content.contains("float16: max abs"))
            let seed = try String(
                contentsOf: Fixtures.taskFolder("extend-attention-triton").appending(path: "seeds/gqa_packed.py"),
                encoding: .utf8
            )
            let evaluated = await server.call(
                "evaluate",
                arguments: ["task": "extend-attention-triton", "source": .string(seed), "shapes": ["tiny-prefill"]]
            )
            #expect(!evaluated.isError, "\(evaluated.content)")
            #expect(evaluated.content.contains("tiny-prefill"), "\(evaluated.content)")
            #expect(!evaluated.content.contains("0.00x"), "\(evaluated.content)")
        }
    }
}
