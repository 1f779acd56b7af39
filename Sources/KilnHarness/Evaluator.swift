import Crypto
package import Foundation
import KilnCore
package import KilnSandbox
package import KilnTask
package import Logging

#if canImport(Glibc)
import Glibc
#endif

/// How thoroughly an evaluation checks and times.
package struct EvaluationOptions: Sendable, Hashable {
    /// The fewest timed pairs per shape.
    package var minPairs = 12
    /// The most timed pairs per shape (more are taken while the ratios spread widely).
    package var maxPairs = 24
    /// Stop adding pairs once the ratios' interquartile range is this fraction of their median.
    package var targetSpread = 0.10
    /// Flag a shape as noisy when the spread ends above this.
    package var noisySpread = 0.25
    /// Stop adding pairs after this long on one shape (once `minPairs` are done).
    package var shapeTimeBudget: Duration = .seconds(6)
    /// Unchecked, untimed calls of each side before timing.
    package var warmups = 1
    /// Overrides the task's per-call deadline.
    package var callTimeout: Duration?
    /// Fixes the input seeds (for reproducing a run: the sets are then predictable); nil draws each set's
    /// seed from the system's cryptographic generator when that set is made.
    package var seed: UInt64?
    /// Reuse an identical earlier evaluation's result.
    package var usesCache = true
    /// Keep this evaluation's result in the cache for identical later ones. A run's own re-measurements
    /// (the leader beside the runner-up at the end) set it false: they are extra evidence, journaled as
    /// such, and must not replace the result the run journaled for that candidate, which a resumed or
    /// repeated run is answered with.
    package var storesResult = true
    /// Check correctness only; no timing.
    package var isCorrectnessOnly = false

    /// Creates options with the defaults.
    package init() {}
}

/// Another candidate to time in the same pairs as the one evaluated (the run's best, or one named), so
/// that "faster" means faster than it on this machine now, whatever the baseline did.
package struct Rival: Sendable, Hashable {
    /// Its name in results (`#12`).
    package var name: String
    /// Its candidate number in the run, when it has one.
    package var candidate: Int?
    /// Its source.
    package var source: String
    /// Its tunable configuration.
    package var configuration: TunableConfiguration

    /// Creates a rival.
    /// - Parameters:
    ///   - name: its name in results.
    ///   - candidate: its candidate number.
    ///   - source: its source.
    ///   - configuration: its configuration.
    package init(name: String, candidate: Int?, source: String, configuration: TunableConfiguration) {
        self.name = name
        self.candidate = candidate
        self.source = source
        self.configuration = configuration
    }
}

/// One candidate to evaluate.
package struct EvaluationRequest: Sendable {
    /// The task.
    package var task: KernelTask
    /// The candidate's source.
    package var source: String
    /// How to name the candidate in results.
    package var candidateName: String
    /// Its tunable configuration.
    package var configuration: TunableConfiguration
    /// The shapes to run.
    package var shapes: [Shape]
    /// How thoroughly.
    package var options: EvaluationOptions
    /// A candidate to time beside this one (timed evaluations only).
    package var rival: Rival?

    /// Creates a request.
    /// - Parameters:
    ///   - task: the task.
    ///   - source: the candidate's source.
    ///   - candidateName: its display name.
    ///   - configuration: its tunable configuration.
    ///   - shapes: the shapes to run.
    ///   - options: how thoroughly.
    package init(
        task: KernelTask,
        source: String,
        candidateName: String,
        configuration: TunableConfiguration,
        shapes: [Shape],
        options: EvaluationOptions
    ) {
        self.task = task
        self.source = source
        self.candidateName = candidateName
        self.configuration = configuration
        self.shapes = shapes
        self.options = options
    }
}

/// Something an evaluation reports while it runs, for progress displays.
package enum EvaluationEvent: Sendable {
    /// The candidate is being compiled.
    case building
    /// A shape is starting.
    case shapeStarted(String, index: Int, of: Int)
    /// A shape finished.
    case shapeFinished(ShapeResult)
}

/// Builds a candidate and measures it on a task's shapes, against the oracle and the baseline.
package struct Evaluator: Sendable {
    /// The folder for builds, cached results and the machine profile.
    package var cacheDirectory: URL
    /// How candidates run: in Kiln's sandbox (the default), or without one (`--unsafe-no-sandbox`).
    package var sandboxMode: Sandbox.Mode
    /// Where diagnostics go.
    package var logger: Logger

    /// Creates an evaluator.
    /// - Parameters:
    ///   - cacheDirectory: the cache folder (created when needed).
    ///   - sandboxMode: how candidates run.
    ///   - logger: the logger.
    package init(
        cacheDirectory: URL,
        sandboxMode: Sandbox.Mode = .isolated,
        logger: Logger = Logger(label: "kiln.harness")
    ) {
        self.cacheDirectory = cacheDirectory
        self.sandboxMode = sandboxMode
        self.logger = logger
    }

    /// The sandbox, its launcher built, after checking one can be made here.
    /// - Parameter compiler: the C compiler that builds the launcher.
    /// - Returns: the sandbox.
    /// - Throws: ``HarnessError`` `.sandboxUnavailable` when none can be made and the mode requires one.
    package func sandbox(compiler: String = "gcc") async throws(HarnessError) -> Sandbox {
        do {
            let sandbox = try await Sandbox.prepare(
                cacheDirectory: cacheDirectory,
                mode: sandboxMode,
                compiler: compiler
            )
            try await sandbox.requireAvailable()
            return sandbox
        } catch {
            throw HarnessError(sandboxError: error)
        }
    }

    /// The flags a C configuration builds with: its flag set (or the task's defaults) and its defines.
    /// - Parameters:
    ///   - task: the task.
    ///   - space: the candidate's tunable space.
    ///   - configuration: the configuration.
    /// - Returns: the compiler flags.
    package static func flags(task: KernelTask, space: TunableSpace, configuration: TunableConfiguration) -> [String] {
        let base = space.flagSets.isEmpty ? task.build.flags : space.flagSets[configuration.flagSet]
        return base + configuration.defines
    }

    /// The task's backend, in this evaluator's sandbox.
    func backend(for task: KernelTask) async throws(HarnessError) -> any Backend {
        let sandbox = try await sandbox(compiler: task.build.compiler)
        switch task.backend {
        case .c: return CBackend(cacheDirectory: cacheDirectory, sandbox: sandbox)
        case .triton: return TritonBackend(cacheDirectory: cacheDirectory, sandbox: sandbox)
        }
    }

    /// What the task's backend offers here (its device, whether it can time), its tools checked.
    /// - Parameter task: the task.
    /// - Returns: the target.
    /// - Throws: ``HarnessError`` `.toolMissing` saying what to install, `.sandboxUnavailable`.
    package func target(for task: KernelTask) async throws(HarnessError) -> BackendTarget {
        try await backend(for: task).target(for: task)
    }

    /// The task as this machine evaluates it: on a device that cannot time (Triton's CPU interpreter), its
    /// interpreter shapes replace the suite and the held-out shapes.
    /// - Parameter task: the task as loaded.
    /// - Returns: the task to evaluate and the backend's target.
    /// - Throws: ``HarnessError`` when the backend's tools are missing; `CancellationError` when cancelled.
    package func prepare(_ task: KernelTask) async throws -> (task: KernelTask, target: BackendTarget) {
        do {
            let target = try await target(for: task)
            return (target.timingUnavailable == nil ? task : task.forCorrectnessOnlyDevice(), target)
        } catch {
            if error.code == .cancelled { throw CancellationError() }
            throw error
        }
    }

    /// Evaluates one candidate.
    /// - Parameters:
    ///   - request: what to evaluate.
    ///   - events: called as the evaluation progresses.
    /// - Returns: the result; candidate failures are verdicts in it.
    /// - Throws: ``HarnessError`` when Kiln, the task or the machine is at fault; ``TaskError`` when
    ///   the candidate's declarations are malformed.
    package func evaluate(
        _ request: EvaluationRequest,
        events: @Sendable (EvaluationEvent) -> Void = { _ in }
    ) async throws -> EvaluationResult {
        do {
            return try await evaluateOnce(request, events: events)
        } catch let error as HarnessError where error.code == .cancelled {
            throw CancellationError()
        } catch {
            // Cancellation kills workers and compilers; what they then report is nobody's fault.
            try Task.checkCancellation()
            throw error
        }
    }

    private func evaluateOnce(
        _ request: EvaluationRequest,
        events: @Sendable (EvaluationEvent) -> Void
    ) async throws -> EvaluationResult {
        let clock = ContinuousClock()
        let started = clock.now
        let task = request.task
        let space = try TunableSpace.parse(source: request.source, file: request.candidateName)
        let backend = try await backend(for: task)
        let flags = backend.flags(task: task, space: space, configuration: request.configuration)
        let probe = MachineProbe(cacheDirectory: cacheDirectory, compiler: task.build.compiler)
        let profile = try await probe.profile()
        let peaks = MachinePeaks(profile: profile, probe: probe)
        let target = try await backend.target(for: task)
        var options = request.options
        if target.timingUnavailable != nil { options.isCorrectnessOnly = true }
        let key = cacheKey(
            request,
            options: options,
            flags: flags,
            profile: profile,
            target: target,
            harness: try HarnessResources.fingerprint()
        )
        let cache = ResultCache(
            directory: cacheDirectory.appending(path: "results"),
            key: try CacheAuthentication.key(in: cacheDirectory)
        )
        if options.usesCache {
            switch cache.load(key: key) {
            case .hit(var cached):
                cached.isCached = true
                cached.candidate = request.candidateName
                return cached
            case .forged:
                logger.warning(
                    "a cached result failed its authentication and was refused; measuring again",
                    metadata: ["kiln.cache.key": "\(key)"]
                )
            case .miss:
                break
            }
        }
        let seed = options.seed ?? 0
        var result = EvaluationResult(
            correct: false,
            verdict: .buildFailed,
            failure: nil,
            geomeanSpeedup: nil,
            shapes: [],
            task: task.name,
            candidate: request.candidateName,
            configuration: request.configuration,
            flags: flags,
            buildLog: "",
            machine: profile,
            contentHash: key,
            isCached: false,
            seed: seed,
            wallSeconds: 0,
            measuredAt: Date(),
            isSandboxed: sandboxMode == .isolated
        )
        result.device = target.device
        result.timingUnavailable = target.timingUnavailable
        func finish(_ result: inout EvaluationResult, machine: MachineProfile) -> EvaluationResult {
            let elapsed = clock.now - started
            result.wallSeconds = elapsed.inSeconds
            result.correct = result.verdict == .correct
            if machine != result.machine {
                // Measured again during the evaluation: every shape's fractions against the fresh figures.
                result.machine = machine
                for index in result.shapes.indices { result.shapes[index].applyMachine(machine) }
            }
            result.load = MachineLoad.combining(result.shapes.compactMap(\.load), scope: "during this evaluation")
            if result.correct {
                result.geomeanSpeedup = TimingStatistics.geometricMean(result.shapes.compactMap(\.speedup))
                let intervals = result.shapes.compactMap(\.speedupInterval)
                if intervals.count == result.shapes.count {
                    result.speedupInterval = LogInterval.geometricMean(intervals)
                }
                let versus = result.shapes.compactMap(\.versusInterval)
                if let wanted = request.rival, !versus.isEmpty, let interval = LogInterval.geometricMean(versus) {
                    result.comparison = Comparison(
                        rival: wanted.name,
                        rivalCandidate: wanted.candidate,
                        interval: interval,
                        shapes: versus.count
                    )
                }
            }
            if options.storesResult { cache.store(result, key: key) }
            return result
        }

        events(.building)
        let oracle = try await backend.trusted(.oracle, task: task, target: target)
        let baseline = try await backend.trusted(.baseline, task: task, target: target)
        let candidate: Implementation
        switch try await backend.candidate(
            task: task,
            source: request.source,
            space: space,
            configuration: request.configuration,
            displayName: request.candidateName,
            target: target
        ) {
        case .ready(let implementation, let log):
            candidate = implementation
            result.buildLog = String(log.prefix(20_000))
        case .rejected(let rejection):
            result.buildLog = String(rejection.log.prefix(20_000))
            result.verdict =
                rejection.kind == .forbiddenSymbols || rejection.kind == .forbiddenInclude
                ? .integrityViolation : .buildFailed
            result.failure = rejection.message
            return finish(&result, machine: await peaks.profile)
        }
        var rival: Implementation?
        if let wanted = request.rival, !options.isCorrectnessOnly {
            let rivalSpace = try TunableSpace.parse(source: wanted.source, file: wanted.name)
            if case .ready(let implementation, _) = try await backend.candidate(
                task: task,
                source: wanted.source,
                space: rivalSpace,
                configuration: wanted.configuration,
                displayName: wanted.name,
                target: target
            ) {
                rival = Implementation(role: .rival, launch: implementation.launch)
            }
        }

        var seeds = InputSeeds(fixed: request.options.seed)
        let history = BaselineHistory(
            directory: cacheDirectory.appending(path: "baselines"),
            key: try CacheAuthentication.key(in: cacheDirectory)
        )
        var failed = false
        for (index, shape) in request.shapes.enumerated() {
            events(.shapeStarted(shape.name, index: index, of: request.shapes.count))
            try Task.checkCancellation()
            var shapeResult: ShapeResult
            let verdict: Verdict?
            let reason: String?
            let meter = LoadMeter.start()
            let workerCPU = WorkerCPUTally()
            do {
                (shapeResult, verdict, reason) = try await runShape(
                    shape,
                    task: task,
                    implementations: (oracle, baseline, candidate),
                    rival: rival.map { ($0, request.rival?.name ?? "the rival") },
                    backend: backend,
                    peaks: peaks,
                    devicePeaks: target.peaks,
                    workerCPU: workerCPU,
                    options: options,
                    isTimed: !failed && !options.isCorrectnessOnly,
                    seeds: &seeds
                )
            } catch {
                // Cancellation kills the workers; what they then report is not the task's fault.
                try Task.checkCancellation()
                throw error
            }
            try Task.checkCancellation()
            let drift = shapeResult.baselineMedianSeconds.flatMap { seconds in
                history.record(
                    seconds,
                    shape: shape.name,
                    identity: BaselineHistory.identity([
                        task.contentHash, shape.driverSpec, profile.fingerprint, sandboxMode.rawValue, target.tools,
                    ])
                )
            }
            shapeResult.load = meter.load(
                unreapedSeconds: workerCPU.seconds,
                baseline: drift,
                scope: "during this shape"
            )
            shapeResult.verdict = verdict
            result.shapes.append(shapeResult)
            events(.shapeFinished(shapeResult))
            if let verdict, let reason {
                if !failed {
                    result.verdict = verdict
                    result.failure = "shape '\(shape.name)': \(reason)"
                    failed = true
                }
                // A wrong answer leaves the candidate healthy enough to check the other shapes; a crash,
                // a hang, a broken rule or source that does not compile does not.
                if verdict != .wrongResult { break }
            }
        }
        if !failed { result.verdict = .correct }
        return finish(&result, machine: await peaks.profile)
    }

    private func runShape(
        _ shape: Shape,
        task: KernelTask,
        implementations: (oracle: Implementation, baseline: Implementation, candidate: Implementation),
        rival: (implementation: Implementation, name: String)?,
        backend: any Backend,
        peaks: MachinePeaks,
        devicePeaks: DevicePeaks?,
        workerCPU: WorkerCPUTally,
        options: EvaluationOptions,
        isTimed: Bool,
        seeds: inout InputSeeds
    ) async throws -> (ShapeResult, Verdict?, String?) {
        let logs = cacheDirectory.appending(path: "logs")
        let tag = UUID().uuidString
        let folders = ["oracle", "baseline", "candidate", "rival"].map { logs.appending(path: "\(tag)-\($0)") }
        defer { for url in folders { try? FileManager.default.removeItem(at: url) } }
        for folder in folders {
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw HarnessError(
                    .io,
                    "cannot create \(folder.path); is the cache folder writable?",
                    underlying: error
                )
            }
        }
        let launches = [
            try implementations.oracle.launch(shape, folders[0]),
            try implementations.baseline.launch(shape, folders[1]),
            try implementations.candidate.launch(shape, folders[2]),
        ]
        let rivalLaunch = try rival.map { try $0.implementation.launch(shape, folders[3]) }
        let profile = await peaks.profile
        let callTimeout = options.callTimeout ?? task.limits.callTimeout
        let checksAccounting = backend.reportsWorkerAccounting
        let usesMachinePeak = task.backend == .c
        var localSeeds = seeds
        let outcome: ShapeOutcome = try await DriverSession.with(launches[0]) { oracle -> ShapeOutcome in
            try await DriverSession.with(launches[1]) { baseline -> ShapeOutcome in
                try await DriverSession.with(launches[2]) { candidate -> ShapeOutcome in
                    try await DriverSession.withOptional(rivalLaunch) { rivalSession -> ShapeOutcome in
                        var run = ShapeRun(
                            shape: shape,
                            task: task,
                            oracle: oracle,
                            baseline: baseline,
                            candidate: candidate,
                            rival: rivalSession,
                            rivalName: rival?.name,
                            options: options,
                            profile: profile,
                            callTimeout: callTimeout,
                            isTimed: isTimed,
                            checksWorkerAccounting: checksAccounting,
                            usesMachinePeak: usesMachinePeak,
                            workerCPU: workerCPU
                        )
                        run.devicePeaks = devicePeaks
                        return try await run.run(seeds: &localSeeds)
                    }
                }
            }
        }
        seeds = localSeeds
        switch outcome {
        case .passed(var result):
            if usesMachinePeak, (result.fractionOfPeak ?? 0) > 1 {
                // Over 100% of the peak: the probe may have been under-read; measure it again.
                result.applyMachine(try await peaks.remeasure())
            }
            return (result, nil, nil)
        case .tooFast(var result, _):
            // Never reject a time against a profile that may be under-read: measure the machine again first.
            let machine = try await peaks.remeasure()
            result.applyMachine(machine)
            if let gflops = result.gflops,
                let reason = SpeedCheck.impossibility(gflops: gflops, machine: machine, wasRemeasured: true)
            {
                result.correct = false
                result.failure = reason
                return (result, .integrityViolation, reason)
            }
            result.correct = true
            result.notes.append(
                "faster than the cached machine profile allowed; the machine was measured again and the time stands"
            )
            return (result, nil, nil)
        case .failed(var result, let verdict, let reason):
            result.correct = false
            result.failure = reason
            return (result, verdict, reason)
        case .candidateDied(var result, let death):
            let log = (try? String(contentsOf: launches[2].log, encoding: .utf8)) ?? ""
            let (verdict, reason) = Self.describe(death, log: log)
            result.correct = false
            result.failure = reason
            return (result, verdict, reason)
        }
    }

    /// A duration in seconds or milliseconds, for messages.
    static func format(_ duration: Duration) -> String {
        duration.formatted(.units(allowed: [.seconds, .milliseconds], width: .abbreviated))
    }

    /// Turns the way a worker ended into a verdict and a one-line reason.
    static func describe(_ death: WorkerDeath, log: String) -> (Verdict, String) {
        let printed = log.isEmpty ? "" : "; it printed: \(log.suffix(300).replacingOccurrences(of: "\n", with: " | "))"
        let phase =
            switch death.phase {
            case "start-up": "during start-up, before its entry point was called"
            case "setup": "while it was loaded or its inputs set up, before its call"
            case "freeze": "while being frozen after a call"
            default: "during a call"
            }
        if let number = death.syscall {
            let name = SyscallNames.name(number).map { "\($0), number \(number)" } ?? "number \(number)"
            return (
                .integrityViolation,
                "made a forbidden system call (\(name)) \(phase) and was stopped by Kiln's sandbox: a candidate may compute, allocate memory that is not executable, use threads, and read the clock, but not start processes, open files, use sockets, io_uring or shared memory, or signal other processes"
            )
        }
        switch death.status {
        case .signaled(let signal):
            switch signal {
            case SIGSYS:
                return (
                    .integrityViolation,
                    "was stopped by Kiln's sandbox \(phase): it made a forbidden system call with SIGSYS blocked"
                )
            case SIGXCPU: return (.timedOut, "ran out of CPU time \(phase)")
            case SIGXFSZ: return (.crashed, "wrote more than its log may hold (SIGXFSZ) \(phase)")
            case SIGSEGV: return (.crashed, "crashed with a segmentation fault (SIGSEGV) \(phase)\(printed)")
            case SIGBUS: return (.crashed, "crashed with a bus error (SIGBUS) \(phase)\(printed)")
            case SIGFPE: return (.crashed, "crashed with an arithmetic exception (SIGFPE) \(phase)\(printed)")
            case SIGILL: return (.crashed, "crashed with an illegal instruction (SIGILL) \(phase)\(printed)")
            case SIGABRT: return (.crashed, "aborted (SIGABRT) \(phase)\(printed)")
            case SIGKILL where death.phase == "freeze":
                return (.integrityViolation, "did not stop when Kiln froze it after a call, and was killed")
            case SIGKILL:
                return (
                    .crashed,
                    "was killed (SIGKILL) \(phase), perhaps by the system for using too much memory\(printed)"
                )
            default: return (.crashed, "was killed by signal \(signal) \(phase)\(printed)")
            }
        case .exited(let code):
            if code == 0 {
                return (
                    .integrityViolation,
                    "ended its process (exit status 0) \(phase): a candidate must return from its entry point, never exit"
                )
            }
            let hint =
                death.phase == "start-up"
                ? " (is its static or thread-local data larger than the task's memory limit?)" : ""
            return (.crashed, "ended its process with exit status \(code) \(phase)\(hint)\(printed)")
        case .lost:
            return (.crashed, "vanished \(phase)\(printed)")
        }
    }

    private func cacheKey(
        _ request: EvaluationRequest,
        options: EvaluationOptions,
        flags: [String],
        profile: MachineProfile,
        target: BackendTarget,
        harness: String
    ) -> String {
        var hasher = SHA256()
        let parts: [String] = [
            "kiln-evaluation-v4", request.task.contentHash, request.source, flags.joined(separator: " "),
            request.configuration.label, request.shapes.map(\.driverSpec).joined(separator: "\n"),
            profile.fingerprint, target.tools, harness,
            "\(options.minPairs) \(options.maxPairs) \(options.targetSpread) \(options.warmups) \(options.isCorrectnessOnly)",
            "\(options.noisySpread) \(options.shapeTimeBudget)", sandboxMode.rawValue,
            options.seed.map(String.init) ?? "fresh", options.callTimeout.map { "\($0)" } ?? "task",
            request.rival.map { "rival \($0.name)\u{1}\($0.configuration.label)\u{1}\($0.source)" } ?? "no rival",
        ]
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hex(hasher.finalize())
    }
}
