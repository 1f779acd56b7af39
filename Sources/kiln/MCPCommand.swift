import ArgumentParser
import Foundation
import KilnHarness
import KilnRun
import KilnServe

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve Kiln's harness to coding agents over the Model Context Protocol (stdio).",
        discussion: """
            Tools: list_tasks, describe_task, evaluate, tune, probe, list_runs, show_run. Evaluations use \
            the same sandboxed harness and are journaled in a run per task (proposer 'mcp'), which \
            'kiln serve' shows. Register it with an agent as a stdio server, e.g. \
            'claude mcp add kiln -- kiln mcp --tasks /path/to/tasks'.
            """
    )

    @Option(name: .long, help: "The folder whose subfolders are tasks (default: ./tasks).")
    var tasks = "tasks"

    @OptionGroup var runs: RunsFolderOptions
    @OptionGroup var cache: CacheOptions
    @OptionGroup var sandbox: SandboxOptions

    func run() async throws {
        let orchestrator = RunOrchestrator(
            store: runs.store,
            evaluator: Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandbox.mode)
        )
        let server = KilnMCPServer(tasksFolder: URL(filePath: tasks), orchestrator: orchestrator)
        try await server.serveStdio()
    }
}
