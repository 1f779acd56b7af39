import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnServe
import KilnTesting
import Testing

/// The MCP server's own behaviour, called directly (the official SDK drives it end to end in MCPTests).
@Suite(.timeLimit(.minutes(5)))
struct MCPServerTests {
    @Test("two evaluations racing for a new task share one run instead of making two")
    func racingCallsShareOneRun() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder.appending(path: "runs"))
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
            let server = KilnMCPServer(tasksFolder: Fixtures.root.appending(path: "tasks"), orchestrator: orchestrator)
            let source = try String(
                contentsOf: Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c"),
                encoding: .utf8
            )
            let arguments: [String: JSONValue] = [
                "task": "matmul", "source": .string(source), "shapes": ["square-256"],
            ]
            async let first = server.call("evaluate", arguments: arguments)
            async let second = server.call("evaluate", arguments: arguments)
            let outcomes = await [first, second]
            for outcome in outcomes { #expect(!outcome.isError, "\(outcome.content)") }
            #expect(Fixtures.runIDs(in: store.root).count == 1, "runs: \(Fixtures.runIDs(in: store.root))")
        }
    }

    @Test("evaluate and tune offer the harness's own parameters, with a task and a source in place of a path")
    func toolsComeFromOneDefinition() async throws {
        let store = RunStore(
            root: FileManager.default.temporaryDirectory.appending(path: "kiln-mcp-\(UUID().uuidString)")
        )
        let server = KilnMCPServer(
            tasksFolder: Fixtures.root.appending(path: "tasks"),
            orchestrator: RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: Fixtures.sharedCache))
        )
        let evaluate = try #require(server.tools.first { $0.name == "evaluate" })
        guard case .object(let schema) = evaluate.definition.parameters,
            case .object(let properties)? = schema["properties"]
        else {
            Issue.record("evaluate has no object schema")
            return
        }
        #expect(
            Set(properties.keys) == [
                "task", "source", "params", "flag_set", "shapes", "fresh", "compare_with", "repeat",
            ]
        )
        #expect(
            server.tools.map(\.name) == [
                "list_tasks", "describe_task", "evaluate", "tune", "probe", "list_runs", "show_run",
            ]
        )
    }
}
