import ArgumentParser
import Foundation
import KilnCore
import KilnHarness
import KilnRay
import KilnTask
import KilnTuner

struct RayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ray",
        abstract:
            "Evaluations per hour on a loopback Ray cluster with one slot in use and with two, and Kiln's own overhead per remote evaluation.",
        discussion: """
            Starts a Ray cluster on loopback (a head and a worker, one CPU and one kiln_slot each, each node with \
            its own Kiln cache holding this machine's profile), then evaluates the bundled matmul's seed \
            single-threaded (THREADS=1), without the result cache, through Kiln's Ray executor: two at once to \
            warm both nodes' builds (not counted), then one evaluation at a time, then two at a time, the same \
            number of each, in one run. Evaluations per hour are the \
            evaluations over the wall time of each phase; the overhead of a remote evaluation is its time from \
            submission to answer here less the evaluation's own wall time on its node (build included), \
            median and quartiles. Needs ray in Kiln's Python (KILN_PYTHON, KILN_VENV or ~/.cache/kiln/venv).
            """
    )

    @Option(name: .long, help: "Evaluations in each phase.")
    var evaluations = 8

    @Option(name: .customLong("pairs"), help: "Timed pairs per shape (minimum and maximum).")
    var pairs = 5

    @OptionGroup var folders: BenchFolders
    @OptionGroup var benchTask: BenchTask

    func run() async throws {
        let task = try KernelTask.load(from: try benchTask.folder())
        guard let seed = task.seeds.first, let source = try? String(contentsOf: task.url(of: seed), encoding: .utf8)
        else { throw ValidationError("the task has no seed to evaluate") }
        let space = try TunableSpace.parse(source: source, file: seed)
        let configuration = try space.configuration(settings: ["THREADS=1"], flagSet: nil, allowUndeclaredValues: true)
        let environment = ProcessInfo.processInfo.environment
        let pythons = PythonEnvironment.configuredExecutables(environment: environment)
        guard let ray = await RayLocalCluster.rayCommand(pythons: pythons) else {
            throw ValidationError(
                "no Python of Kiln's imports ray (tried \(pythons.joined(separator: ", "))); install ray"
            )
        }
        let kiln = try KilnExecutable.url().path
        let evaluator = folders.evaluator
        let machine = try await MachineProbe(cacheDirectory: evaluator.cacheDirectory, compiler: task.build.compiler)
            .profile()
        let work = evaluator.cacheDirectory.appending(path: "ray-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        var nodes: [RayLocalCluster.Node] = []
        for index in 0..<2 {
            let cache = work.appending(path: "node-\(index)")
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            for file in ["probe.json", "cache.key"] {
                try FileManager.default.copyItem(
                    at: evaluator.cacheDirectory.appending(path: file),
                    to: cache.appending(path: file)
                )
            }
            nodes.append(RayLocalCluster.Node(slots: 1, cache: cache))
        }
        var options = EvaluationOptions()
        options.usesCache = false
        options.minPairs = pairs
        options.maxPairs = pairs
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: "\(seed) THREADS=1",
            configuration: configuration,
            shapes: task.suite,
            options: options
        )
        let count = max(evaluations, 1)
        let sandboxMode = evaluator.sandboxMode
        let phases = try await RayLocalCluster.with(nodes, ray: ray, environment: environment) { cluster in
            let rayConfiguration = RayConfiguration(
                address: cluster.address,
                nodeKiln: kiln,
                workFolder: work.appending(path: "executor"),
                sandboxMode: sandboxMode,
                pythons: pythons,
                environment: environment,
                fallbackMachine: machine
            )
            return try await RayExecutor.with(rayConfiguration) { executor in
                // Two evaluations at once first, not counted: one on each node, they build each node's tools
                // (the sandbox's launcher, the monitor, the baseline's and the candidate's workers).
                _ = try await Self.phase(request, count: 2, slots: 2, on: executor)
                var phases: [Phase] = []
                for slots in [1, 2] {
                    Terminal.progress("\(slots) slot(s): \(count) evaluations")
                    phases.append(try await Self.phase(request, count: count, slots: slots, on: executor))
                }
                return phases
            }
        }
        Terminal.clearProgress()
        Terminal.out(
            "kiln-bench ray: \(task.name) seed \(seed) THREADS=1, \(task.suite.count) shapes, \(pairs) pairs per shape, no cache; a loopback Ray cluster of 2 nodes (1 CPU, 1 kiln_slot each) on this \(ProcessInfo.processInfo.activeProcessorCount)-core machine"
        )
        for phase in phases {
            Terminal.out(phase.summary)
        }
        if let one = phases.first, let two = phases.last, one.perHour > 0 {
            Terminal.out(
                String(format: "two slots over one: %.2fx the evaluations per hour", two.perHour / one.perHour)
            )
        }
    }

    /// One phase: `count` evaluations, `slots` of them in flight at a time.
    struct Phase {
        var slots: Int
        var count: Int
        var wall: Duration
        var overheads: [Double]
        var own: [Double]
        var nodes: Set<String>

        var perHour: Double { Double(count) / max(wall.inSeconds, 1e-9) * 3600 }

        var summary: String {
            let overhead = overheads.sorted()
            let own = own.sorted()
            func quantile(_ values: [Double], _ q: Double) -> Double {
                values.isEmpty ? 0 : values[min(Int((Double(values.count - 1) * q).rounded()), values.count - 1)]
            }
            return String(
                format:
                    "%d slot(s): %d evaluations in %.1f s = %.0f evaluations/hour · each %.2f s on its node (median) · Kiln's overhead per remote evaluation: median %.0f ms (quartiles %.0f-%.0f ms) · nodes used: %d",
                slots,
                count,
                wall.inSeconds,
                perHour,
                quantile(own, 0.5),
                quantile(overhead, 0.5) * 1000,
                quantile(overhead, 0.25) * 1000,
                quantile(overhead, 0.75) * 1000,
                nodes.count
            )
        }
    }

    static func phase(
        _ request: EvaluationRequest,
        count: Int,
        slots: Int,
        on executor: RayExecutor
    ) async throws -> Phase {
        let clock = ContinuousClock()
        let start = clock.now
        var phase = Phase(slots: slots, count: count, wall: .zero, overheads: [], own: [], nodes: [])
        try await withThrowingTaskGroup(of: (Double, EvaluationResult).self) { group in
            var submitted = 0
            func submit() {
                guard submitted < count else { return }
                submitted += 1
                group.addTask { try await timed(request, on: executor) }
            }
            for _ in 0..<slots { submit() }
            while let (seconds, result) = try await group.next() {
                guard result.correct else {
                    throw ValidationError("an evaluation failed: \(result.verdict.rawValue): \(result.failure ?? "")")
                }
                phase.overheads.append(seconds - result.wallSeconds)
                phase.own.append(result.wallSeconds)
                if let node = result.node { phase.nodes.insert(node.id) }
                submit()
            }
        }
        phase.wall = clock.now - start
        return phase
    }

    /// An evaluation through the executor, and its wall time from submission to answer.
    static func timed(_ request: EvaluationRequest, on executor: RayExecutor) async throws -> (
        Double, EvaluationResult
    ) {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await executor.evaluate(request, placement: .anywhere)
        return ((clock.now - start).inSeconds, result)
    }
}
