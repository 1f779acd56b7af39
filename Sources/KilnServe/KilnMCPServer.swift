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
    /// A task's session: being made (with the calls waiting for it), or ready. Calls that race for a new
    /// task share one session (and one run) instead of each making its own.
    private enum Slot {
        case creating([CheckedContinuation<RunSession, any Error>])
        case ready(RunSession)
    }
    private var sessions: [String: Slot] = [:]

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
        let offered = tools.map { tool in
            MCP.Tool(
                name: tool.name,
                description: tool.definition.description,
                inputSchema: Self.value(tool.definition.parameters)
            )
        }
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: offered) }
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

    /// The tools this server offers, defined once: the MCP-only ones here, `evaluate`, `tune` and `probe`
    /// from the harness's definitions (``HarnessToolDefinitions``), as the agent's run serves them.
    package nonisolated var tools: [KilnAgent.Tool] {
        func tool(
            _ definition: ToolDefinition,
            _ body: @escaping @Sendable (KilnMCPServer, [String: JSONValue]) async throws -> ToolOutcome
        ) -> KilnAgent.Tool {
            KilnAgent.Tool(definition) { [self] arguments in
                do {
                    return try await body(self, arguments)
                } catch {
                    return .error("\(error)")
                }
            }
        }
        let task = ("string", "a task name from list_tasks")
        return [
            tool(
                ToolDefinition(
                    name: "list_tasks",
                    description: "The tasks Kiln can evaluate.",
                    parameters: objectSchema([:], required: [])
                )
            ) {
                server,
                _ in ToolOutcome(try await server.taskFolders().map(\.lastPathComponent).joined(separator: "\n"))
            },
            tool(
                ToolDefinition(
                    name: "describe_task",
                    description:
                        "A task's entry point, suite, tolerances, and its baseline's figures on this machine (time, GFLOP/s and fraction of peak per shape). The first call for a task measures the baseline through the harness (about a minute for extend-attention); later calls are answered from the cache.",
                    parameters: objectSchema(
                        [
                            "task": task,
                            "baseline": ("boolean", "include the baseline's measured figures (default true)"),
                        ],
                        required: ["task"]
                    )
                )
            ) { try await $0.describeTask($1) },
            tool(HarnessToolDefinitions.forSourceCandidates(HarnessToolDefinitions.evaluate)) {
                try await $0.evaluate("evaluate", $1)
            },
            tool(HarnessToolDefinitions.forSourceCandidates(HarnessToolDefinitions.tune)) {
                try await $0.evaluate("tune", $1)
            },
            tool(HarnessToolDefinitions.probe) { server, _ in
                let profile = try await MachineProbe(cacheDirectory: server.orchestrator.evaluator.cacheDirectory)
                    .profile()
                return ToolOutcome(HarnessToolDefinitions.describe(profile))
            },
            tool(
                ToolDefinition(
                    name: "list_runs",
                    description: "Runs with their status and best speedup.",
                    parameters: objectSchema([:], required: [])
                )
            ) {
                server,
                _ in
                let data = try EvaluationCoding.encoder.encode(server.orchestrator.store.summaries())
                return ToolOutcome(String(decoding: data, as: UTF8.self))
            },
            tool(
                ToolDefinition(
                    name: "show_run",
                    description: "One run's summary and leaderboard.",
                    parameters: objectSchema(["run": ("string", "a run id")], required: ["run"])
                )
            ) { try await $0.showRun($1) },
        ]
    }

    /// Runs one tool (also used directly by tests).
    /// - Parameters:
    ///   - name: the tool.
    ///   - arguments: its arguments.
    /// - Returns: the outcome.
    package func call(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        await ToolRegistry(tools).run(name, arguments: arguments)
    }

    private func describeTask(_ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        let (task, _, target) = try await loadTaskWithPath(arguments)
        var text = try describe(task, target: target)
        if arguments["baseline"]?.bool ?? true, target.timingUnavailable == nil {
            text += "\n" + Self.describe(try await orchestrator.evaluator.baselineFigures(for: task))
        }
        return ToolOutcome(text)
    }

    private func evaluate(_ tool: String, _ arguments: [String: JSONValue]) async throws -> ToolOutcome {
        let (task, path, _) = try await loadTaskWithPath(arguments)
        guard let source = arguments["source"]?.string, !source.isEmpty else {
            return .error("'source' (the candidate's whole source file) is required")
        }
        let session = try await session(for: task, path: path)
        var rest = arguments
        rest["task"] = nil
        rest["source"] = nil
        let outcome = await session.run(tool, source: source, arguments: rest)
        return ToolOutcome(outcome.content + "\n(run \(session.id))", isError: outcome.isError)
    }

    private func showRun(_ arguments: [String: JSONValue]) throws -> ToolOutcome {
        guard let requested = arguments["run"]?.string else { return .error("'run' (a run id) is required") }
        let id = try orchestrator.store.resolve(requested)
        let journal = try Journal(url: orchestrator.store.journalURL(of: id), readOnly: true)
        return ToolOutcome(RunReport(state: RunState(entries: try journal.entries()), runID: id).markdown())
    }

    /// The run session of a task, made on first use; concurrent first calls wait for one.
    private func session(for task: KernelTask, path: String) async throws -> RunSession {
        let key = task.contentHash
        switch sessions[key] {
        case .ready(let session):
            return session
        case .creating:
            return try await withCheckedThrowingContinuation { waiter in
                if case .creating(var waiters) = sessions[key] {
                    waiters.append(waiter)
                    sessions[key] = .creating(waiters)
                } else if case .ready(let session) = sessions[key] {
                    waiter.resume(returning: session)
                } else {
                    waiter.resume(throwing: CancellationError())
                }
            }
        case nil:
            sessions[key] = .creating([])
            do {
                let session = try await RunSession(
                    orchestrator: orchestrator,
                    task: task,
                    taskPath: path,
                    proposer: "mcp"
                )
                if case .creating(let waiters) = sessions[key] {
                    for waiter in waiters { waiter.resume(returning: session) }
                }
                sessions[key] = .ready(session)
                return session
            } catch {
                if case .creating(let waiters) = sessions[key] {
                    for waiter in waiters { waiter.resume(throwing: error) }
                }
                sessions[key] = nil
                throw error
            }
        }
    }

    private func taskFolders() throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: tasksFolder.path).sorted()
        return names.map { tasksFolder.appending(path: $0) }
            .filter { FileManager.default.fileExists(atPath: $0.appending(path: "task.toml").path) }
    }

    /// The task named by `arguments`, as this machine evaluates it (see ``Evaluator/prepare(_:)``), its
    /// folder, and its backend's target here.
    private func loadTaskWithPath(_ arguments: [String: JSONValue]) async throws
        -> (KernelTask, String, BackendTarget)
    {
        guard let name = arguments["task"]?.string, !name.isEmpty else {
            throw ToolArgumentError(message: "'task' is required; call list_tasks")
        }
        guard !name.contains("/"), !name.hasPrefix(".") else {
            throw ToolArgumentError(message: "'task' is a task's name from list_tasks, not a path")
        }
        let folder = tasksFolder.appending(path: name)
        let (task, target) = try await orchestrator.evaluator.prepare(try KernelTask.load(from: folder))
        return (task, folder.path, target)
    }

    private func describe(_ task: KernelTask, target: BackendTarget) throws -> String {
        let header = try String(contentsOf: task.url(of: task.header), encoding: .utf8)
        let shapes = task.suite.map { "- \($0.name): \($0.summary)" }.joined(separator: "\n")
        let tolerances =
            ([("", task.tolerance)] + task.tolerancesByDtype.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            .map { name, limits in
                "\(name.isEmpty ? "" : "\(name): ")max abs \(limits.maxAbs), relative L2 \(limits.relL2)"
            }
        let baseline =
            task.backend == .c
            ? "\(task.baseline) built with \(task.build.compiler) \(task.build.baselineFlags.joined(separator: " ")); candidates default to \(task.build.flags.joined(separator: " "))"
            : task.baseline
        return """
            task \(task.name): \(task.summary)
            backend: \(task.backend.rawValue) (\(task.backend.language)) on \(target.device)\(target.timingUnavailable.map { "; \($0)" } ?? "")
            entry point \(task.entryPoint), declared in \(task.header):
            \(header)
            suite:
            \(shapes)
            held-out shapes: \(task.heldout.count), checked at the end of a run, never shown
            tolerance: \(tolerances.joined(separator: "; "))
            baseline: \(baseline)
            rules:
            \(TaskBrief.rules(for: task).map { "- \($0)" }.joined(separator: "\n"))
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
                            "%.3f ms per call, %.1f GFLOP/s (%.1f%% of peak), %.1f GB/s at minimum traffic; lower decile of %d calls",
                        shape.seconds * 1e3,
                        shape.gflops,
                        shape.fractionOfPeak * 100,
                        shape.gbs,
                        shape.calls
                    )
                    + (shape.fractionOfRoofline.map {
                        String(format: "; %.0f%% of roofline", $0 * 100)
                            + (shape.isMemoryBound == true ? " (memory-bound)" : " (compute-bound)")
                    } ?? "")
            )
        }
        return lines.joined(separator: "\n")
    }

    /// A JSON value in MCP's form.
    static func value(_ json: JSONValue) -> Value {
        switch json {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .number(let number): number.rounded() == number && abs(number) < 1e15 ? .int(Int(number)) : .double(number)
        case .string(let string): .string(string)
        case .array(let array): .array(array.map(value))
        case .object(let object): .object(object.mapValues(value))
        }
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
}
