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
    @OptionGroup(title: "Executor") var executorOptions: ExecutorOptions

    func run() async throws {
        let evaluator = Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandbox.mode)
        let tasks = URL(filePath: self.tasks)
        let store = runs.store
        try await executorOptions.with(evaluator: evaluator) { executor in
            let orchestrator = RunOrchestrator(store: store, evaluator: evaluator, executor: executor)
            let server = KilnMCPServer(tasksFolder: tasks, orchestrator: orchestrator)
            try await server.serveStdio()
        }
    }
}
