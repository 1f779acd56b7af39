import ArgumentParser
import Foundation
import KilnAgent
import KilnAgentRun
import KilnHarness
import KilnModelServer
import KilnRun
import KilnTask
import KilnTuner
import Synchronization

/// `kiln-bench agent`: a long scripted agent run in compressed time, measuring what a 35-hour run
/// needs: flat memory, a bounded context, the journal's growth, and Kiln's own overhead per call.
struct AgentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "A long scripted agent run on a cheap task: memory, context, journal size and overhead per tool call."
    )

    @Option(name: .customLong("tool-calls"), help: "Tool calls in the script.")
    var toolCalls = 1200

    @Option(name: .customLong("context-limit"), help: "The model context the run must stay under, in tokens.")
    var contextLimit = 16_000

    @Option(
        name: .customLong("script-out"),
        help: "Write the generated script here and stop (for kill-and-resume runs of 'kiln run --model scripted:FILE')."
    )
    var scriptOut: String?

    @OptionGroup var folders: BenchFolders
    @OptionGroup var bundled: BenchTask

    func run() async throws {
        let taskFolder = try bundled.folder()
        let task = try KernelTask.load(from: taskFolder)
        guard let seedPath = task.seeds.first else { throw ValidationError("the matmul task has no seed") }
        let seed = try String(contentsOf: task.url(of: seedPath), encoding: .utf8)
        let space = SearchSpace(try TunableSpace.parse(source: seed, file: seedPath))
        let shape = task.suite.map(\.name).last ?? ""
        var turns: [ModelScript.Turn] = [
            .init(
                text: "Writing the kernel.",
                toolCalls: [.init(name: "write_file", arguments: ["path": "mm.c", "content": .string(seed)])]
            )
        ]
        var evaluations = 0
        for index in 1..<(toolCalls - 1) {
            let call: ModelScript.ScriptedToolCall
            switch index % 11 {
            case 0, 3, 6, 8:
                let configuration = space.configuration(at: evaluations % space.size)
                var params: [String: JSONValue] = [:]
                for (key, value) in configuration.values { params[key] = .string(value) }
                call = .init(
                    name: "evaluate",
                    arguments: [
                        "path": "mm.c", "params": .object(params), "flag_set": .number(Double(configuration.flagSet)),
                        "shapes": [.string(shape)],
                    ]
                )
                evaluations += 1
            case 1, 7: call = .init(name: "read_file", arguments: ["path": "mm.c", "offset": 1, "limit": 40])
            case 2:
                call = .init(
                    name: "notes",
                    arguments: ["action": "append", "text": .string("call \(index): block sizes matter")]
                )
            case 4: call = .init(name: "leaderboard", arguments: [:])
            case 5: call = .init(name: "list_files", arguments: [:])
            case 9:
                call = .init(
                    name: "edit_file",
                    arguments: ["path": "mm.c", "old_text": "#include", "new_text": "#include"]
                )
            default: call = .init(name: "probe", arguments: [:])
            }
            turns.append(
                .init(
                    text: "Step \(index): trying the next idea.",
                    toolCalls: [call],
                    usage: TokenUsage(input: 2000, output: 60)
                )
            )
        }
        turns.append(.init(toolCalls: [.init(name: "finish", arguments: ["summary": "endurance script done"])]))
        let script = ModelScript(turns: turns)
        if let scriptOut {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(script).write(to: URL(filePath: scriptOut))
            Terminal.out("wrote \(turns.count) turns to \(scriptOut)")
            return
        }

        var options = RunOptions()
        options.maxSeconds = nil
        options.minPairs = 1
        options.maxPairs = 1
        var endpoint = ModelEndpoint(wireProtocol: .openAI, baseURL: "loopback", model: "scripted", apiKeyVariable: nil)
        endpoint.requestTimeout = .seconds(60)
        let agent = AgentSettings(
            endpoint: endpoint,
            script: "endurance",
            contextLimit: contextLimit,
            budgets: AgentBudgets()
        )
        let orchestrator = RunOrchestrator(
            store: folders.store,
            evaluator: folders.evaluator
        )
        let memory = Mutex<(at100: Int, peak: Int)>((0, 0))
        let clock = ContinuousClock()
        let start = clock.now
        let server = ScriptedModelServer(script: script, keepsRequests: false)
        let (id, state) = try await server.withRunning { base in
            var configuration = ModelConfiguration(
                wireProtocol: .openAI,
                baseURL: base.appending(path: "v1").absoluteString,
                model: "scripted",
                apiKeyVariable: nil,
                apiKey: nil
            )
            configuration.requestTimeout = .seconds(60)
            let model = OpenAIChatClient(configuration: configuration, label: "scripted:endurance")
            return try await orchestrator.startAgent(
                task: task,
                taskPath: taskFolder.path,
                options: options,
                agent: agent,
                model: model,
                evaluatesSeed: false
            ) { event in
                guard case .toolFinished(_, _, let state) = event else { return }
                let rss = Self.residentBytes()
                memory.withLock { value in
                    if state.agent.toolCalls == 100 { value.at100 = rss }
                    value.peak = max(value.peak, rss)
                }
                if state.agent.toolCalls % 50 == 0 {
                    Terminal.progress(
                        "tool calls \(state.agent.toolCalls)/\(toolCalls) · evaluations \(state.finishedEvaluations)"
                    )
                }
            }
        }
        Terminal.clearProgress()
        let wall = clock.now - start
        let endRSS = Self.residentBytes()
        let journalURL = folders.store.journalURL(of: id)
        let journal = try Journal(url: journalURL, readOnly: true)
        let entries = try journal.entries()
        let overheads = Self.overheadPerCall(entries)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: journalURL.path)[.size] as? Int) ?? 0
        let (at100, peak) = memory.withLock { $0 }
        let calls = state.agent.toolCalls
        Terminal.out(
            "run \(id): \(calls) tool calls, \(state.finishedEvaluations) evaluations, \(state.agent.compactions) compactions in \(wall.components.seconds) s"
        )
        Terminal.out(
            String(
                format: "resident memory: %.1f MiB at call 100, %.1f MiB at the end (%+.1f%%), peak %.1f MiB",
                Double(at100) / 1_048_576,
                Double(endRSS) / 1_048_576,
                (Double(endRSS) / Double(max(at100, 1)) - 1) * 100,
                Double(peak) / 1_048_576
            )
        )
        Terminal.out("largest request: \(state.agent.largestRequest) estimated tokens (limit \(contextLimit))")
        Terminal.out(
            String(
                format: "journal: %.1f MiB, %d events, %.1f KiB per tool call",
                Double(bytes) / 1_048_576,
                entries.count,
                Double(bytes) / 1024 / Double(max(calls, 1))
            )
        )
        let sorted = overheads.sorted()
        if !sorted.isEmpty {
            Terminal.out(
                String(
                    format:
                        "Kiln's overhead per tool call (model and evaluations excluded): median %.2f ms, p90 %.2f ms over %d calls",
                    sorted[sorted.count / 2] * 1000,
                    sorted[sorted.count * 9 / 10] * 1000,
                    sorted.count
                )
            )
        }
    }

    /// For each answer: the time from journaling it to journaling the next request, less the time
    /// spent inside evaluations in between.
    static func overheadPerCall(_ entries: [Journal.Entry]) -> [Double] {
        var result: [Double] = []
        var answeredAt: Date?
        var evaluationStart: Date?
        var evaluating = 0.0
        for entry in entries {
            switch entry.event {
            case .agent(.response):
                answeredAt = entry.date
                evaluating = 0
            case .evaluationStarted: evaluationStart = entry.date
            case .evaluationFinished:
                if let start = evaluationStart { evaluating += entry.date.timeIntervalSince(start) }
                evaluationStart = nil
            case .agent(.request):
                if let answered = answeredAt {
                    result.append(max(entry.date.timeIntervalSince(answered) - evaluating, 0))
                }
                answeredAt = nil
            default: continue
            }
        }
        return result
    }

    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
