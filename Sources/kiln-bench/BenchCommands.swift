import ArgumentParser
import Foundation
import KilnHarness
import KilnTask
import KilnTuner

struct EvalBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            "Evaluate one candidate several times without the cache: geometric means, their spread, and wall times."
    )

    @Argument(help: "The task folder.")
    var task: String

    @Argument(help: "The candidate C file.")
    var candidate: String

    @Option(name: .long, help: "How many evaluations.")
    var repeats = 2

    @Option(name: .long, help: "The spread the geometric means should stay within, as a fraction (0.02 is 2%).")
    var within = 0.02

    @Option(
        name: .customLong("probe-runs"),
        help: "Probe runs before each evaluation, the control of how far the machine itself moved (0: none)."
    )
    var probeRuns = 2

    @OptionGroup var folders: BenchFolders

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, not \(repeats)") }
        guard within > 0, within < 1 else { throw ValidationError("--within must be between 0 and 1, not \(within)") }
        guard probeRuns >= 0 else { throw ValidationError("--probe-runs must be 0 or more, not \(probeRuns)") }
    }

    func run() async throws {
        let task = try KernelTask.load(from: URL(filePath: self.task))
        guard let source = try? String(contentsOf: URL(filePath: candidate), encoding: .utf8) else {
            throw HarnessError(.candidateNotFound, "\(candidate): no such candidate file")
        }
        let space = try TunableSpace.parse(source: source, file: candidate)
        var options = EvaluationOptions()
        options.usesCache = false
        let evaluator = folders.evaluator
        let probe = MachineProbe(cacheDirectory: folders.cacheURL)
        var record = Repeatability()
        for index in 1...repeats {
            // The control first: the machine's own rates just before the evaluation, uncached.
            let reading =
                probeRuns > 0
                ? ProbeRounds.profile(from: try await probe.uncachedReadings(rounds: probeRuns), measuredAt: Date())
                : nil
            let request = EvaluationRequest(
                task: task,
                source: source,
                candidateName: candidate,
                configuration: space.defaultConfiguration,
                shapes: task.suite,
                options: options
            )
            let result = try await evaluator.evaluate(request)
            guard let mean = result.geomeanSpeedup else {
                Terminal.out("evaluation \(index): \(result.verdict.rawValue): \(result.failure ?? "")")
                throw ExitCode(1)
            }
            var baselines: [String: Double] = [:]
            for shape in result.shapes { baselines[shape.name] = shape.baselineSeconds }
            record.add(
                geomean: mean,
                baselineSeconds: baselines,
                wasBusy: result.load?.isBusy ?? false,
                reading: reading
            )
            let shapes = result.shapes.map { shape in
                let spread = shape.speedupLow.flatMap { low in
                    shape.speedupHigh.map { high in (high - low) / max(shape.speedup ?? 1, 1e-9) }
                }
                return "\(shape.name) \(String(format: "%.2f", shape.speedup ?? 0))x"
                    + (spread.map { String(format: " (IQR %.0f%%", $0 * 100) + (shape.isNoisy ? ", noisy)" : ")") }
                        ?? "")
            }
            Terminal.out(
                "evaluation \(index): geomean \(String(format: "%.3f", mean))x in \(String(format: "%.1f", result.wallSeconds)) s (build included) · \(shapes.joined(separator: ", "))"
            )
            if let reading {
                Terminal.out(
                    String(
                        format:
                            "  machine before it: all-core FMA %.0f GFLOP/s, memory bandwidth %.1f GB/s on one thread, %.1f on all",
                        reading.peakGflopsAll,
                        reading.bandwidthGbs1,
                        reading.bandwidthGbsAll
                    ) + (reading.load.map { $0.isBusy ? " (\($0.note): these read low)" : "" } ?? "")
                )
            }
            if let load = result.load { Terminal.out("  load: \(load.note)") }
        }
        for line in record.summary(target: within) { Terminal.out(line) }
    }
}

struct TunerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tuner",
        abstract: "Measure every configuration of a design, then replay each strategy on those measurements.",
        discussion: """
            Evaluates the whole space once (cached, so a second call is quick), takes the exhaustive \
            best, and reports for each strategy the median over seeds of the evaluations it needs to \
            get within 5% of that best, and that as a share of the space.
            """
    )

    @Argument(help: "The task folder.")
    var task: String

    @Option(name: .long, help: "The design, relative to the task folder (default: its first seed).")
    var design: String?

    @Option(name: .long, help: "Seeds per strategy.")
    var seeds = 5

    @Option(name: .long, help: "Within this fraction of the exhaustive best counts as reached.")
    var within = 0.05

    @OptionGroup var folders: BenchFolders

    func run() async throws {
        let task = try KernelTask.load(from: URL(filePath: self.task))
        guard let path = design ?? task.seeds.first else {
            throw ValidationError("task '\(task.name)' has no seed design; pass --design")
        }
        let source = try String(contentsOf: task.url(of: path), encoding: .utf8)
        let tunables = try TunableSpace.parse(source: source, file: path)
        let space = SearchSpace(tunables)
        var options = EvaluationOptions()
        options.minPairs = 3
        options.maxPairs = 6
        options.shapeTimeBudget = .seconds(3)
        let evaluator = folders.evaluator
        var scores: [Double?] = []
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<space.size {
            let request = EvaluationRequest(
                task: task,
                source: source,
                candidateName: path,
                configuration: space.configuration(at: index),
                shapes: task.suite,
                options: options
            )
            let result = try await evaluator.evaluate(request)
            scores.append(result.correct ? result.geomeanSpeedup : nil)
            Terminal.progress("measured \(index + 1)/\(space.size) configurations…")
        }
        Terminal.clearProgress()
        let best = scores.compactMap { $0 }.max() ?? 0
        let target = best * (1 - within)
        let invalid = scores.count { $0 == nil }
        Terminal.out(
            "\(path): \(space.size) configurations (\(invalid) invalid), measured in \(String(format: "%.0f", Double((clock.now - start).components.seconds))) s; exhaustive best \(String(format: "%.2f", best))x"
        )
        var rows: [[String]] = []
        for name in Strategies.names {
            guard let strategy = Strategies.named(name) else { continue }
            var needed: [Int] = []
            for seed in 1...UInt64(max(seeds, 1)) {
                var history: [Trial] = []
                while let index = strategy.propose(space: space, history: history, seed: seed) {
                    history.append(Trial(index: index, score: scores[index]))
                    if let score = scores[index], score >= target { break }
                }
                needed.append(history.count)
            }
            let median = needed.sorted()[needed.count / 2]
            rows.append([
                name + (name == Strategies.defaultName ? " (default)" : ""), String(median),
                String(format: "%.1f%%", Double(median) / Double(space.size) * 100),
                needed.map(String.init).joined(separator: " "),
            ])
        }
        for line in textTable(header: ["strategy", "median evals", "of space", "per seed"], rows: rows) {
            Terminal.out(line)
        }
    }
}

/// Rows under a header, columns padded (the first left-aligned, the others right-aligned).
func textTable(header: [String], rows: [[String]]) -> [String] {
    let widths = header.indices.map { column in ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == 0
                ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[index] - cell.count) + cell
        }.joined(separator: "  ")
    }
    return [line(header)] + rows.map(line)
}
