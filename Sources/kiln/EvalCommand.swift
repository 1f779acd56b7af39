import ArgumentParser
import Foundation
import KilnCore
import KilnHarness
import KilnTask

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            "Build a candidate, check it against the task's oracle on every shape, and time it against the baseline.",
        discussion: """
            Exit codes: 0 correct on every shape; 10 wrong result; 11 build failure; 12 crash; \
            13 timeout; 14 integrity violation (modified inputs, work after returning, forbidden \
            system call, timer tampering); 64 bad usage; 65 invalid task; 66 missing file.
            """
    )

    @Argument(help: "The task folder (holding task.toml).")
    var task: String

    @Argument(help: "The candidate: a C file, or a Python file for a Triton task.")
    var candidate: String

    @Option(
        name: .customLong("compare-with"),
        help:
            "Another candidate file to time in the same pairs: the result says per shape whether the candidate is better, the same within noise, or worse."
    )
    var compareWith: String?

    @Option(
        name: .customLong("compare-param"),
        help: ArgumentHelp(
            "A tunable of the --compare-with candidate, as NAME=VALUE (repeatable).",
            valueName: "NAME=VALUE"
        )
    )
    var compareParameters: [String] = []

    @Option(
        name: .long,
        parsing: .upToNextOption,
        help: "Shape names to run (default: the whole suite). Held-out shapes may be named too."
    )
    var shapes: [String] = []

    @Option(
        name: .customLong("param"),
        help: ArgumentHelp("Set a declared tunable, as NAME=VALUE (repeatable).", valueName: "NAME=VALUE")
    )
    var parameters: [String] = []

    @Option(name: .customLong("flag-set"), help: "Which of the candidate's declared flag sets to build with (0-based).")
    var flagSet: Int?

    @Flag(name: .long, help: "Print one JSON object on stdout instead of a table.")
    var json = false

    @Flag(name: .customLong("no-cache"), help: "Measure again even if identical work was evaluated before.")
    var noCache = false

    @Flag(name: .customLong("correctness-only"), help: "Check every shape but do not time.")
    var correctnessOnly = false

    @Option(name: .long, help: "Fix the input seeds (for reproducing a result).")
    var seed: UInt64?

    @Option(name: .long, help: "Seconds one call may take before its process group is killed (default: the task's).")
    var timeout: Double?

    @Option(name: .customLong("min-pairs"), help: "Fewest timed baseline/candidate pairs per shape.")
    var minPairs: Int = 12

    @Option(name: .customLong("max-pairs"), help: "Most timed pairs per shape (taken while timings are noisy).")
    var maxPairs: Int = 24

    @OptionGroup var cache: CacheOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup(title: "Executor") var executorOptions: ExecutorOptions

    func validate() throws {
        guard minPairs >= 1, maxPairs >= minPairs else {
            throw ValidationError("--min-pairs must be at least 1 and --max-pairs at least --min-pairs")
        }
        if let timeout, !(timeout > 0) || Duration.checkedSeconds(timeout) == nil {
            throw ValidationError("--timeout must be a positive number of seconds of at most a year, not \(timeout)")
        }
    }

    func run() async throws {
        let evaluator = Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandbox.mode)
        let (task, _) = try await evaluator.prepare(try KernelTask.load(from: URL(filePath: self.task)))
        let candidateURL = URL(filePath: candidate)
        guard let source = try? String(contentsOf: candidateURL, encoding: .utf8) else {
            let exists = FileManager.default.fileExists(atPath: candidateURL.path)
            throw HarnessError(
                .candidateNotFound,
                exists
                    ? "\(candidate): cannot read the candidate (is it a UTF-8 text file?)"
                    : "\(candidate): no such candidate file; pass the path of a \(task.backend == .c ? "C source file" : "Python file")"
            )
        }
        let shapes = try task.shapes(named: self.shapes.flatMap { $0.split(separator: ",").map(String.init) })
        let space = try TunableSpace.parse(source: source, file: candidate)
        let configuration = try space.configuration(settings: parameters, flagSet: flagSet)
        var options = EvaluationOptions()
        options.minPairs = minPairs
        options.maxPairs = maxPairs
        options.seed = seed
        options.usesCache = !noCache
        options.isCorrectnessOnly = correctnessOnly
        options.callTimeout = timeout.flatMap { Duration.checkedSeconds($0) }
        var request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: candidate,
            configuration: configuration,
            shapes: shapes,
            options: options
        )
        if let compareWith {
            guard let rivalSource = try? String(contentsOf: URL(filePath: compareWith), encoding: .utf8) else {
                throw HarnessError(.candidateNotFound, "\(compareWith): cannot read the candidate to compare with")
            }
            let rivalSpace = try TunableSpace.parse(source: rivalSource, file: compareWith)
            request.rival = Rival(
                name: compareWith,
                candidate: nil,
                source: rivalSource,
                configuration: try rivalSpace.configuration(settings: compareParameters)
            )
        }
        let quiet = json
        let name = candidate
        let result = try await executorOptions.with(evaluator: evaluator) { executor in
            if let executor {
                if !quiet { Terminal.progress("evaluating \(name) on \(executor.label)…") }
                return try await executor.evaluate(request)
            }
            return try await evaluator.evaluate(request) { event in
                guard !quiet else { return }
                switch event {
                case .building: Terminal.progress("building \(name)…")
                case .shapeStarted(let name, let index, let count):
                    Terminal.progress("shape \(index + 1)/\(count): \(name)…")
                case .shapeFinished: break
                }
            }
        }
        Terminal.clearProgress()
        if json {
            let data = try EvaluationCoding.encoder.encode(result)
            Terminal.out(String(decoding: data, as: UTF8.self))
        } else {
            Terminal.out(ResultTable.render(result, task: task))
            if let node = result.node {
                Terminal.out("measured on node \(node.name) (\(node.address)) · kind \(result.nodeKind)")
            }
        }
        if result.verdict != .correct { throw ExitCode(ExitCodes.code(for: result.verdict)) }
    }
}
