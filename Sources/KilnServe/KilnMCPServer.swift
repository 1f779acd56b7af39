package import Foundation
package import KilnAgent
import KilnAgentRun
import KilnHarness
package import KilnRun
import KilnTask
import MCP

/// Kiln's harness served over the Model Context Protocol (stdio), for coding agents: list and
/// describe tasks, evaluate and tune candidate sources, probe the machine, list and show runs. Every
/// evaluation goes through the same harness and is journaled in a run per task (proposer `mcp`),
/// which the dashboard shows.
package actor KilnMCPServer {
    private let tasksFolder: URL
    private let orchestrator: RunOrchestrator
    private var sessions: [String: RunSession] = [:]

    /// Creates the server.
    /// - Parameters:
    ///   - tasksFolder: the folder whose subfolders are tasks.
    ///   - orchestrator: the runs folder and the evaluator.
    package init(tasksFolder: URL, orchestrator: RunOrchestrator) {
        self.tasksFolder = tasksFolder
        self.orchestrator = orchestrator
    }

    /// Serves over standard input and output until the client disconnects.
    /// - Throws: what the transport throws.
    package func serveStdio() async throws {
        let server = Server(
            name: "kiln",
            version: KilnRun.version,
            capabilities: .init(tools: .init(listChanged: false))
        )
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: Self.tools) }
        await server.withMethodHandler(CallTool.self) { [self] params in
            let arguments = (params.arguments ?? [:]).mapValues(Self.json)
            let outcome = await self.call(params.name, arguments: arguments)
            return .init(
                content: [.text(text: outcome.content, annotations: nil, _meta: nil)],
                isError: outcome.isError
            )
        }
        try await server.start(transport: StdioTransport())
        await server.waitUntilCompleted()
    }

    /// Runs one tool (also used directly by tests).
    /// - Parameters:
    ///   - name: the tool.
    ///   - arguments: its arguments.
    /// - Returns: the outcome.
    package func call(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        do {
            switch name {
            case "list_tasks":
                return ToolOutcome(try taskFolders().map { "\($0.lastPathComponent)" }.joined(separator: "\n"))
            case "describe_task":
                let task = try loadTask(arguments)
                var text = try describe(task)
                if arguments["baseline"]?.bool ?? true {
                    text += "\n" + Self.describe(try await orchestrator.evaluator.baselineFigures(for: task))
                }
                return ToolOutcome(text)
            case "evaluate", "tune":
                let (task, path) = try loadTaskWithPath(arguments)
                guard let source = arguments["source"]?.string, !source.isEmpty else {
                    return .error("'source' (the candidate's C source) is required")
                }
                let session = try await session(for: task, path: path)
                var rest = arguments
                rest["task"] = nil
                rest["source"] = nil
                let outcome = await session.run(name, source: source, arguments: rest)
                return ToolOutcome(outcome.content + "\n(run \(session.id))", isError: outcome.isError)
            case "probe":
                let profile = try await MachineProbe(cacheDirectory: orchestrator.evaluator.cacheDirectory).profile()
                let data = try EvaluationCoding.encoder.encode(profile)
                return ToolOutcome(String(decoding: data, as: UTF8.self))
            case "list_runs":
                let data = try EvaluationCoding.encoder.encode(orchestrator.store.summaries())
                return ToolOutcome(String(decoding: data, as: UTF8.self))
            case "show_run":
                guard let requested = arguments["run"]?.string else { return .error("'run' (a run id) is required") }
                let id = try orchestrator.store.resolve(requested)
                let journal = try Journal(url: orchestrator.store.journalURL(of: id), readOnly: true)
                return ToolOutcome(RunReport(state: RunState(entries: try journal.entries()), runID: id).markdown())
            default:
                return .error(
                    "there is no tool '\(name)'; the tools are \(Self.tools.map(\.name).joined(separator: ", "))"
                )
            }
        } catch {
            return .error("\(error)")
        }
    }

    private func session(for task: KernelTask, path: String) async throws -> RunSession {
        if let session = sessions[task.contentHash] { return session }
        let session = try await RunSession(orchestrator: orchestrator, task: task, taskPath: path, proposer: "mcp")
        sessions[task.contentHash] = session
        return session
    }

    private func taskFolders() throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: tasksFolder.path).sorted()
        return names.map { tasksFolder.appending(path: $0) }
            .filter { FileManager.default.fileExists(atPath: $0.appending(path: "task.toml").path) }
    }

    private func loadTaskWithPath(_ arguments: [String: JSONValue]) throws -> (KernelTask, String) {
        guard let name = arguments["task"]?.string, !name.isEmpty else {
            throw ToolArgumentError(message: "'task' is required; call list_tasks")
        }
        guard !name.contains("/"), !name.hasPrefix(".") else {
            throw ToolArgumentError(message: "'task' is a task's name from list_tasks, not a path")
        }
        let folder = tasksFolder.appending(path: name)
        return (try KernelTask.load(from: folder), folder.path)
    }

    private func loadTask(_ arguments: [String: JSONValue]) throws -> KernelTask {
        try loadTaskWithPath(arguments).0
    }

    private func describe(_ task: KernelTask) throws -> String {
        let header = try String(contentsOf: task.url(of: task.header), encoding: .utf8)
        let shapes = task.suite.map { "- \($0.name): \($0.summary)" }.joined(separator: "\n")
        return """
            task \(task.name): \(task.summary)
            entry point \(task.entryPoint), declared in \(task.header):
            \(header)
            suite:
            \(shapes)
            held-out shapes: \(task.heldout.count), checked at the end of a run, never shown
            tolerance: max abs \(task.tolerance.maxAbs), relative L2 \(task.tolerance.relL2)
            baseline: \(task.baseline) built with \(task.build.compiler) \(task.build.baselineFlags.joined(separator: " ")); candidates default to \(task.build.flags.joined(separator: " "))
            rules: only the entry point may be a global symbol; declare tunables as '// kiln:tunable NAME V1 V2'
            """
    }

    private static func describe(_ figures: BaselineFigures) -> String {
        let formatter = ISO8601DateFormatter()
        var lines = [
            "baseline figures on this machine (\(figures.machine.cpuModel), measured peak \(String(format: "%.0f", figures.machine.peakGflopsAll)) GFLOP/s fp32 on \(figures.machine.threads) threads, triad \(String(format: "%.1f", figures.machine.bandwidthGbsAll)) GB/s), measured \(formatter.string(from: figures.measuredAt))\(figures.isCached ? " (cached)" : ""); speedups are ratios against these times:"
        ]
        for shape in figures.shapes {
            lines.append(
                "- \(shape.name): "
                    + String(
                        format:
                            "%.3f ms per call, %.1f GFLOP/s (%.1f%% of peak), %.1f GB/s at minimum traffic; median of %d calls",
                        shape.seconds * 1e3,
                        shape.gflops,
                        shape.fractionOfPeak * 100,
                        shape.gbs,
                        shape.calls
                    )
            )
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ value: Value) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .int(let int): .number(Double(int))
        case .double(let double): .number(double)
        case .string(let string): .string(string)
        case .data(_, let data): .string(data.base64EncodedString())
        case .array(let array): .array(array.map(json))
        case .object(let object): .object(object.mapValues(json))
        }
    }

    static let tools: [Tool] = {
        func schema(_ properties: [String: Value], required: [String]) -> Value {
            .object([
                "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
            ])
        }
        let task: Value = .object(["type": "string", "description": "a task name from list_tasks"])
        let source: Value = .object(["type": "string", "description": "the candidate's whole C source"])
        return [
            Tool(
                name: "list_tasks",
                description: "The tasks Kiln can evaluate.",
                inputSchema: schema([:], required: [])
            ),
            Tool(
                name: "describe_task",
                description:
                    "A task's entry point, suite, tolerances, and its baseline's figures on this machine (time, GFLOP/s and fraction of peak per shape). The first call for a task measures the baseline through the harness (about a minute for extend-attention); later calls are answered from the cache.",
                inputSchema: schema(
                    [
                        "task": task,
                        "baseline": .object([
                            "type": "boolean", "description": "include the baseline's measured figures (default true)",
                        ]),
                    ],
                    required: ["task"]
                )
            ),
            Tool(
                name: "evaluate",
                description:
                    "Build a candidate source, check it against the hidden oracle on fresh inputs on every suite shape, and time it against the baseline. Journaled in a run per task.",
                inputSchema: schema(
                    [
                        "task": task, "source": source,
                        "params": .object(["type": "object", "description": "tunable values NAME: VALUE"]),
                        "shapes": .object([
                            "type": "array", "items": .object(["type": "string"]),
                            "description": "suite shapes (default all)",
                        ]),
                    ],
                    required: ["task", "source"]
                )
            ),
            Tool(
                name: "tune",
                description:
                    "Search the tunables a candidate source declares ('// kiln:tunable NAME V1 V2'), within a budget of evaluations.",
                inputSchema: schema(
                    [
                        "task": task, "source": source,
                        "budget": .object(["type": "integer", "description": "evaluations, 1-24"]),
                    ],
                    required: ["task", "source"]
                )
            ),
            Tool(
                name: "probe",
                description: "This machine's measured peak FMA rate, bandwidth and caches.",
                inputSchema: schema([:], required: [])
            ),
            Tool(
                name: "list_runs",
                description: "Runs with their status and best speedup.",
                inputSchema: schema([:], required: [])
            ),
            Tool(
                name: "show_run",
                description: "One run's summary and leaderboard.",
                inputSchema: schema(["run": .object(["type": "string", "description": "a run id"])], required: ["run"])
            ),
        ]
    }()
}
