import ArgumentParser
import Foundation
import KilnAgent
import KilnAgentRun
import KilnCore
import KilnHarness
import KilnModelServer
import KilnRun
import KilnTask
import KilnTuner
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Where runs live.
struct RunsFolderOptions: ParsableArguments {
    @Option(
        name: .customLong("runs"),
        help: ArgumentHelp("The runs folder (default: $KILN_HOME/runs or .kiln/runs).", valueName: "dir")
    )
    var runsDirectory: String?

    var store: RunStore {
        if let runsDirectory { return RunStore(root: URL(filePath: runsDirectory)) }
        if let home = ProcessInfo.processInfo.environment["KILN_HOME"], !home.isEmpty {
            return RunStore(root: URL(filePath: home).appending(path: "runs"))
        }
        return RunStore(root: URL(filePath: FileManager.default.currentDirectoryPath).appending(path: ".kiln/runs"))
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Start a journaled optimisation run on a task: a model redesigns the kernel (--model), or the tuner tunes its seed designs.",
        discussion: """
            Without a model, Kiln tunes every seed design of the task with a search strategy; with \
            --model, the model works through tools in the run's workspace. Either way Kiln keeps the \
            best correct candidate, checks it on the held-out shapes at the end, and writes the winner \
            and a report into the run's folder. Ctrl-C stops cleanly; 'kiln resume' continues.
            """
    )

    @Argument(help: "The task folder.")
    var task: String

    @Option(name: .long, help: "Wall-time budget, e.g. 300s, 5m, 2h (default 5m; 0 for none).")
    var time: String = "5m"

    @Option(name: .customLong("evals"), help: "Evaluation budget (default: none).")
    var evaluations: Int?

    @Option(name: .long, help: "Search strategy: \(Strategies.names.joined(separator: ", ")).")
    var strategy: String = Strategies.defaultName

    @Option(name: .long, help: "Seed of every random choice (default: drawn).")
    var seed: UInt64?

    @Option(name: .customLong("min-pairs"), help: "Fewest timed pairs per shape in each evaluation.")
    var minPairs: Int = 3

    @Option(name: .customLong("max-pairs"), help: "Most timed pairs per shape in each evaluation.")
    var maxPairs: Int = 6

    @Option(
        name: .customLong("parallel"),
        help: "Evaluations the tuner keeps in flight (default: the executor's slots; 1 here)."
    )
    var parallelism: Int?

    @Option(
        name: .customLong("reference-kind"),
        help: ArgumentHelp(
            "With a cluster: the node kind the winner is re-measured on before it is declared (a node's KILN_NODE_KIND label, or its 'CPU · device'; default: the kind of the node that measured the first result).",
            valueName: "kind"
        )
    )
    var referenceKind: String?

    @OptionGroup var runs: RunsFolderOptions
    @OptionGroup var cache: CacheOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup(title: "Executor") var executorOptions: ExecutorOptions
    @OptionGroup(title: "Model (agent mode)") var modelOptions: ModelOptions

    func validate() throws {
        guard Strategies.named(strategy) != nil else {
            throw ValidationError(
                "unknown strategy '\(strategy)'; choose one of \(Strategies.names.joined(separator: ", "))"
            )
        }
        guard DurationText.seconds(time) != nil else {
            throw ValidationError("--time '\(time)' is not a duration of at most a year; write e.g. 90s, 5m or 2h")
        }
        if let evaluations, evaluations < 1 { throw ValidationError("--evals must be at least 1") }
        guard minPairs >= 1, maxPairs >= minPairs else {
            throw ValidationError("--min-pairs must be at least 1 and --max-pairs at least --min-pairs")
        }
        if let parallelism, !(1...1024).contains(parallelism) {
            throw ValidationError("--parallel must be 1 to 1024, not \(parallelism)")
        }
    }

    func run() async throws {
        let evaluator = Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandbox.mode)
        try await executorOptions.with(evaluator: evaluator) { executor in
            try await run(evaluator: evaluator, executor: executor)
        }
    }

    private func run(evaluator: Evaluator, executor: (any EvaluationExecutor)?) async throws {
        let task = try KernelTask.load(from: URL(filePath: self.task))
        var options = RunOptions()
        options.strategy = strategy
        options.seed = seed
        let seconds = DurationText.seconds(time) ?? 300
        options.maxSeconds = seconds > 0 ? seconds : nil
        options.maxEvaluations = evaluations
        options.minPairs = minPairs
        options.maxPairs = maxPairs
        options.parallelism = parallelism
        options.referenceKind = referenceKind
        let orchestrator = RunOrchestrator(store: runs.store, evaluator: evaluator, executor: executor)
        let taskPath = self.task
        let settings = options
        if let agent = try modelOptions.resolve() {
            let evaluatesSeed = !modelOptions.noSeedEvaluation
            let environment = ProcessInfo.processInfo.environment
            let (id, state) = try await AgentModel.with(
                agent,
                answeredTurns: 0,
                environment: environment,
                onViolation: RunPrinter.scriptViolation
            ) { model in
                try await RunSupervisor.supervise { progress in
                    try await orchestrator.startAgent(
                        task: task,
                        taskPath: taskPath,
                        options: settings,
                        agent: agent,
                        model: model,
                        evaluatesSeed: evaluatesSeed,
                        progress: progress
                    )
                }
            }
            RunPrinter.summary(id: id, state: state, store: runs.store)
            return
        }
        let (id, state) = try await RunSupervisor.supervise { progress in
            try await orchestrator.start(task: task, taskPath: taskPath, options: settings, progress: progress)
        }
        RunPrinter.summary(id: id, state: state, store: runs.store)
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a stopped, interrupted or killed run where it stopped."
    )

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    @OptionGroup var runs: RunsFolderOptions
    @OptionGroup var cache: CacheOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup(title: "Executor (default: the one the run was started with)") var executorOptions: ExecutorOptions

    func run() async throws {
        let evaluator = Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandbox.mode)
        let (runID, settings) = try RunOrchestrator(store: runs.store, evaluator: evaluator).settings(of: run)
        try await executorOptions.with(evaluator: evaluator, resuming: settings.executor) { executor in
            try await resume(runID, settings: settings, evaluator: evaluator, executor: executor)
        }
    }

    private func resume(
        _ runID: String,
        settings: RunSettings,
        evaluator: Evaluator,
        executor: (any EvaluationExecutor)?
    ) async throws {
        let orchestrator = RunOrchestrator(store: runs.store, evaluator: evaluator, executor: executor)
        if let agent = settings.agent {
            let journal = try Journal(url: runs.store.journalURL(of: runID), readOnly: true)
            let answered = RunState(entries: try journal.entries()).answeredModelRequests
            let environment = ProcessInfo.processInfo.environment
            let (id, state) = try await AgentModel.with(
                agent,
                answeredTurns: answered,
                environment: environment,
                onViolation: RunPrinter.scriptViolation
            ) { model in
                try await RunSupervisor.supervise { progress in
                    try await orchestrator.resumeAgent(runID, model: model, progress: progress)
                }
            }
            RunPrinter.summary(id: id, state: state, store: runs.store)
            return
        }
        let (id, state) = try await RunSupervisor.supervise { progress in
            try await orchestrator.resume(runID, progress: progress)
        }
        RunPrinter.summary(id: id, state: state, store: runs.store)
    }
}

/// Runs a run as a service in a group that stops it gracefully on SIGINT and SIGTERM, and shows
/// its progress.
enum RunSupervisor {
    typealias Body = @Sendable (@escaping @Sendable (RunProgress) -> Void) async throws -> (id: String, state: RunState)

    static func supervise(_ body: @escaping Body) async throws -> (id: String, state: RunState) {
        let service = RunService(body: body)
        let logger = Logger(label: "kiln.run")
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        Terminal.clearProgress()
        return try service.outcome()
    }
}

final class RunService: Service {
    private let body: RunSupervisor.Body
    private let result = Mutex<Result<(id: String, state: RunState), any Error>?>(nil)

    init(body: @escaping RunSupervisor.Body) {
        self.body = body
    }

    func run() async throws {
        let body = self.body
        let outcome: Result<(id: String, state: RunState), any Error>
        do {
            let value = try await cancelWhenGracefulShutdown {
                try await body { event in RunPrinter.progress(event) }
            }
            outcome = .success(value)
        } catch {
            outcome = .failure(error)
        }
        result.withLock { $0 = outcome }
    }

    func outcome() throws -> (id: String, state: RunState) {
        guard let outcome = result.withLock({ $0 }) else {
            throw RunError(.io, "the run stopped before it began")
        }
        return try outcome.get()
    }
}

/// Parses durations such as `90`, `90s`, `5m`, `2h`.
enum DurationText {
    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var seconds: Double?
        if let last = text.last, let unit = units[last], let value = Double(text.dropLast()) {
            seconds = value * unit
        } else {
            seconds = Double(text)
        }
        // At most a year, finite: a budget no conversion can trap on.
        guard let seconds, Duration.checkedSeconds(seconds) != nil else { return nil }
        return seconds
    }
}
