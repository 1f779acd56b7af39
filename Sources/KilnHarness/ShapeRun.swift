import Foundation
import KilnTask

/// What running one shape came to.
enum ShapeOutcome: Sendable {
    /// Checked (and timed, if asked) without fault.
    case passed(ShapeResult)
    /// The candidate failed with a verdict and a one-line reason.
    case failed(ShapeResult, Verdict, String)
    /// The candidate's worker died.
    case candidateDied(ShapeResult, WorkerDeath)
    /// Checked and timed, but faster than the machine's profile allows (a reason says by how much): the
    /// evaluator measures the machine again before it concludes (``SpeedCheck``).
    case tooFast(ShapeResult, String)
}

/// The three drivers of one shape (oracle, baseline, candidate) and the protocol between them.
///
/// Every input set is built by each monitor from (shape, seed), with a seed Kiln draws for that set alone
/// and sends only when the set is made. Workers are frozen except while their own call is timed. The
/// oracle computes its reference only after the candidate's outputs were taken, and the reference never
/// leaves the oracle's monitor: the candidate's outputs are sent there for comparison. Every timed call
/// gets fresh inputs, and its outputs are checked too.
struct ShapeRun {
    let shape: Shape
    let task: KernelTask
    let oracle: DriverSession
    let baseline: DriverSession
    let candidate: DriverSession
    /// Another candidate (the run's best, or one named) timed in the same pairs, for `versus`; nil when none.
    let rival: DriverSession?
    /// The rival's name in results (`#12`).
    let rivalName: String?
    let options: EvaluationOptions
    let profile: MachineProfile
    let callTimeout: Duration
    let isTimed: Bool
    /// Whether call replies carry the worker's CPU accounting and done byte (the C monitor's), which are
    /// then required and checked.
    let checksWorkerAccounting: Bool
    /// Whether the machine profile's peak is the device's (the CPU's, for C): only then are fractions of
    /// peak reported and speeds above it refused.
    let usesMachinePeak: Bool
    /// The CPU time of the workers' calls, for the evaluation's load (``LoadMeter``).
    let workerCPU: WorkerCPUTally
    /// A GPU's measured peaks, for the roofline of a backend whose device is not the machine's CPU.
    var devicePeaks: DevicePeaks? = nil

    private static let setupTimeout: Duration = .seconds(180)
    /// Slack on top of a call's deadline before Kiln gives up on the monitor itself.
    private static let monitorSlack: Duration = .seconds(30)
    /// CPU a worker may show between its 'done' and the confirmed freeze (the window is tens of
    /// microseconds; more means something kept running), nanoseconds.
    private static let afterReturnThreshold = 5e6
    /// CPU a frozen worker may show between calls, nanoseconds: none, up to clock granularity.
    private static let frozenThreshold = 1e6

    private struct Inputs {
        var hash: String
        var flops: Double
        var bytes: Double
        var outputBytes: Int
        var threads: Int
    }

    private enum CallOutcome {
        /// Timed (or checked): seconds, CPU seconds, and the hash of the inputs it was given.
        case ok(seconds: Double, cpuSeconds: Double, inputs: String)
        case failed(Verdict, String)
        case died(WorkerDeath)
    }

    private var emptyResult: ShapeResult {
        ShapeResult(
            name: shape.name,
            parameters: shape.summary,
            correct: nil,
            failure: nil,
            maxAbsError: nil,
            relL2Error: nil,
            checkedCalls: 0,
            baselineSeconds: nil,
            candidateSeconds: nil,
            speedup: nil,
            speedupLow: nil,
            speedupHigh: nil,
            pairs: 0,
            isNoisy: false,
            gflops: nil,
            fractionOfPeak: nil,
            flops: 0,
            bytes: 0,
            notes: []
        )
    }

    func run(seeds: inout InputSeeds) async throws(HarnessError) -> ShapeOutcome {
        var result = emptyResult
        for (session, role) in [(oracle, "oracle"), (baseline, "baseline")] {
            let ready = try trusted(await session.awaitReady(timeout: Self.setupTimeout), role: role)
            try requireTiming(ready, role: role)
        }
        var rivalProblem: String?
        if let rival {
            switch await rival.awaitReady(timeout: Self.setupTimeout) {
            case .ok: break
            case let other: rivalProblem = Self.describeRival(other)
            }
        }
        switch await candidate.awaitReady(timeout: Self.setupTimeout) {
        case .ok(let ready): try requireTiming(ready, role: "candidate")
        case .dead(var death):
            death.phase = "start-up"
            return .candidateDied(result, death)
        case let other: _ = try trusted(other, role: "candidate")
        }

        // Correctness on a fresh input set: the candidate, then the baseline, are called and frozen before
        // the oracle computes; both are checked against it.
        let firstSeed = seeds.next()
        switch try await candidateCall(seed: firstSeed, result: &result) {
        case .ok: break
        case .failed(let verdict, let reason): return .failed(result, verdict, reason)
        case .died(let death): return .candidateDied(result, death)
        }
        let firstOutputs = try await candidateOutputs()
        if isTimed { _ = try await baselineCall(seed: firstSeed, expected: nil) }
        let reference = try await referenceCall(seed: firstSeed)
        result.flops = reference.flops
        result.bytes = reference.bytes
        if isTimed { try await checkBaseline() }
        switch try await check(firstOutputs, result: &result) {
        case .ok: break
        case .failed(let verdict, let reason): return .failed(result, verdict, reason)
        case .died(let death): return .candidateDied(result, death)
        }

        // The same inputs with a few values changed, in the same buffers: a candidate that caches
        // answers keyed on pointers or on a sample of its inputs answers stale here.
        let perturbation = max(seeds.next(), 1)
        switch try await candidateCall(seed: firstSeed, perturbation: perturbation, result: &result) {
        case .ok: break
        case .failed(let verdict, let reason): return .failed(result, verdict, reason)
        case .died(let death): return .candidateDied(result, death)
        }
        let perturbedOutputs = try await candidateOutputs()
        _ = try await referenceCall(seed: firstSeed, perturbation: perturbation)
        switch try await check(perturbedOutputs, result: &result) {
        case .ok: break
        case .failed(let verdict, let reason):
            return .failed(result, verdict, reason + " (on inputs changed in a few places from the previous call)")
        case .died(let death): return .candidateDied(result, death)
        }
        guard isTimed else {
            result.correct = true
            return .passed(result)
        }

        // Warm-up, unchecked, on inputs of its own.
        for _ in 0..<options.warmups {
            let seed = seeds.next()
            let (_, _, hash) = try await baselineCall(seed: seed, expected: nil)
            switch try await candidateCall(seed: seed, result: &result) {
            case .ok: break
            case .failed(let verdict, let reason): return .failed(result, verdict, reason)
            case .died(let death): return .candidateDied(result, death)
            }
            if rival != nil, rivalProblem == nil {
                (_, rivalProblem, _) = try await rivalCall(seed: seed, expected: hash)
            }
        }

        // Interleaved pairs, each on inputs neither side has seen, each candidate call checked.
        var ratios: [Double] = []
        var baselineTimes: [Double] = []
        var candidateTimes: [Double] = []
        var coreUse: [Double] = []
        var baselineCPU: [Double] = []
        var candidateCPU: [Double] = []
        let clock = ContinuousClock()
        let start = clock.now
        var versus: [Double] = []
        var rivalTimes: [Double] = []
        var versusCandidateTimes: [Double] = []
        // With a rival the six orders of the three (each side first, second and third, after each of the
        // others) come round once every six pairs; the pairs end on a whole round, so no side is favoured by
        // where it ran, unless fewer than six pairs were asked for.
        let rounds = rival != nil && options.maxPairs >= 6
        var maxPairs: Int { rounds && rivalProblem == nil ? options.maxPairs / 6 * 6 : options.maxPairs }
        while ratios.count < maxPairs {
            let seed = seeds.next()
            var baselineSeconds = 0.0
            var candidateSeconds = 0.0
            var rivalSeconds: Double?
            let candidateFirst = ratios.count % 2 == 1
            var inputs: String?
            // With a rival, each side goes first, second and third in turn: the turn is the rival's when it
            // comes round to it.
            let comparing = rival != nil && rivalProblem == nil
            let turns = comparing ? 3 : 2
            let rivalTurn = comparing ? ratios.count % 3 : -1
            var sideTurn = 0
            for turn in 0..<turns {
                if turn == rivalTurn {
                    if rivalProblem == nil {
                        let hash: String?
                        (rivalSeconds, rivalProblem, hash) = try await rivalCall(seed: seed, expected: inputs)
                        inputs = inputs ?? hash
                    }
                    continue
                }
                defer { sideTurn += 1 }
                if (sideTurn == 0) == candidateFirst {
                    switch try await candidateCall(seed: seed, expected: inputs, result: &result) {
                    case .ok(let seconds, let cpu, let hash):
                        candidateSeconds = seconds
                        candidateCPU.append(cpu)
                        if seconds > 0 { coreUse.append(cpu / seconds) }
                        inputs = inputs ?? hash
                    case .failed(let verdict, let reason): return .failed(result, verdict, reason)
                    case .died(let death): return .candidateDied(result, death)
                    }
                } else {
                    let (seconds, cpu, hash) = try await baselineCall(seed: seed, expected: inputs)
                    baselineSeconds = seconds
                    baselineCPU.append(cpu)
                    inputs = inputs ?? hash
                }
            }
            let outputs = try await candidateOutputs()
            let reference = try await referenceCall(seed: seed)
            if let inputs, reference.hash != inputs { throw differentInputs() }
            switch try await check(outputs, result: &result) {
            case .ok: break
            case .failed(let verdict, let reason): return .failed(result, verdict, reason)
            case .died(let death): return .candidateDied(result, death)
            }
            // The rival's outputs are read and checked too: a wrong rival is no yardstick, and both sides
            // of the comparison then do the same between their calls.
            if comparing, rivalProblem == nil, rivalSeconds != nil { rivalProblem = try await checkRival() }
            ratios.append(baselineSeconds / candidateSeconds)
            baselineTimes.append(baselineSeconds)
            candidateTimes.append(candidateSeconds)
            if let rivalSeconds, rivalProblem == nil, candidateSeconds > 0 {
                versus.append(rivalSeconds / candidateSeconds)
                rivalTimes.append(rivalSeconds)
                versusCandidateTimes.append(candidateSeconds)
            }
            var spread = TimingStatistics(ratios).relativeSpread ?? 1
            // A comparison with a rival is only as decisive as its own ratios: they must settle too.
            if comparing, rivalProblem == nil { spread = max(spread, TimingStatistics(versus).relativeSpread ?? 1) }
            let wholeRound = !(rounds && comparing) || ratios.count.isMultiple(of: 6)
            if ratios.count >= options.minPairs, wholeRound,
                spread <= options.targetSpread || clock.now - start >= options.shapeTimeBudget
            {
                break
            }
        }
        // The figures are the sides' lower deciles (``DecileRatio``); the per-pair ratios' quartiles say
        // how noisy the pairs were.
        let ratioStats = TimingStatistics(ratios)
        let speed = DecileRatio(baselineTimes, over: candidateTimes)
        let candidateTime = speed?.denominator ?? 0
        result.pairs = ratios.count
        result.speedupInterval = speed?.interval
        if rival != nil {
            if let rivalProblem {
                result.notes.append("no comparison with \(rivalName ?? "the rival"): \(rivalProblem)")
            } else if versus.count >= 2, let against = DecileRatio(rivalTimes, over: versusCandidateTimes) {
                let stats = TimingStatistics(versus)
                result.versus = against.ratio
                result.versusLow = stats.quantile(0.25)
                result.versusHigh = stats.quantile(0.75)
                result.versusInterval = against.interval
                result.rivalSeconds = against.numerator
            }
        }
        result.speedup = speed?.ratio
        result.speedupLow = ratioStats.quantile(0.25)
        result.speedupHigh = ratioStats.quantile(0.75)
        result.baselineSeconds = speed?.numerator
        result.baselineMedianSeconds = TimingStatistics(baselineTimes).median
        result.candidateSeconds = speed?.denominator
        result.coresUsed = TimingStatistics(coreUse).median
        result.baselineCPUSeconds = TimingStatistics(baselineCPU).median
        result.candidateCPUSeconds = TimingStatistics(candidateCPU).median
        if let spread = ratioStats.relativeSpread, spread > options.noisySpread {
            result.isNoisy = true
            result.notes.append(
                String(format: "noisy: the middle half of the ratios spans %.0f%% of the median", spread * 100)
            )
        }
        if usesMachinePeak {
            result.applyMachine(profile)
            if let gflops = result.gflops,
                let reason = SpeedCheck.impossibility(gflops: gflops, machine: profile, wasRemeasured: false)
            {
                return .tooFast(result, reason)
            }
        } else if let devicePeaks {
            result.applyRoofline(Roofline(devicePeaks))
            // The device's dense tensor-core rate, measured by Kiln, with room for a kernel that beats cuBLAS.
            if let gflops = result.gflops, gflops > devicePeaks.tensorGflops * 1.5 {
                return .failed(
                    result,
                    .integrityViolation,
                    String(
                        format:
                            "timing rejected (impossible speed): %.0f GFLOP/s is over 1.5x this GPU's measured tensor-core peak of %.0f",
                        gflops,
                        devicePeaks.tensorGflops
                    )
                )
            }
        } else if candidateTime > 0 {
            result.gflops = result.flops > 0 ? result.flops / candidateTime / 1e9 : nil
            result.achievedGbs = result.bytes > 0 ? result.bytes / candidateTime / 1e9 : nil
        }
        result.correct = true
        return .passed(result)
    }

    // MARK: - The trusted side

    private func trusted(_ reply: DriverReply, role: String) throws(HarnessError) -> [String: String] {
        switch reply {
        case .ok(let fields): return fields
        case .taskError(let message):
            throw HarnessError(.taskBroken, "the task's instance file failed on shape '\(shape.name)': \(message)")
        case .raised(let message):
            throw HarnessError(
                .taskBroken,
                "the task's \(role) raised \(message) on shape '\(shape.name)'; run it by hand to debug"
            )
        case .violation(let message):
            throw HarnessError(.taskBroken, "the task's \(role) broke a rule on shape '\(shape.name)': \(message)")
        case .error(let message):
            throw Self.kilnError(message, role: role, shape: shape.name)
        case .dead(let death):
            let (_, reason) = Evaluator.describe(death, log: "")
            throw HarnessError(
                .taskBroken,
                "the task's \(role) \(reason) on shape '\(shape.name)'; run it by hand to debug"
            )
        case .timeout:
            throw HarnessError(
                .taskBroken,
                "the task's \(role) did not finish a call within its deadline on shape '\(shape.name)'; raise call_timeout in task.toml"
            )
        case .lost:
            throw HarnessError(.internal, "Kiln's driver for the \(role) stopped answering on shape '\(shape.name)'")
        }
    }

    /// A driver that cannot time (`timing=none`) in an evaluation that times is Kiln's own mistake.
    private func requireTiming(_ ready: [String: String], role: String) throws(HarnessError) {
        if isTimed, ready["timing"] == "none" {
            throw HarnessError(
                .internal,
                "the \(role)'s driver cannot time on its device (\(ready["device"] ?? "?")), but this evaluation times"
            )
        }
    }

    static func kilnError(_ message: String, role: String, shape: String) -> HarnessError {
        if message.hasPrefix("sandbox: ") {
            return HarnessError(
                .sandboxUnavailable,
                "cannot start the \(role)'s sandbox on shape '\(shape)': \(message.dropFirst("sandbox: ".count)); pass --unsafe-no-sandbox only on a machine without namespaces"
            )
        }
        return HarnessError(
            .internal,
            "Kiln's own worker for the \(role) failed on shape '\(shape)' (this is Kiln's fault, not the \(role)'s): \(message)"
        )
    }

    private func differentInputs() -> HarnessError {
        HarnessError(
            .taskBroken,
            "the task's instance file made different inputs from the same seed in two processes; it must depend only on (shape, seed)"
        )
    }

    private func setup(_ session: DriverSession, seed: UInt64, perturbation: UInt64 = 0) async -> DriverReply {
        await session.request("setup \(seed) \(perturbation)", timeout: Self.setupTimeout)
    }

    private func call(_ session: DriverSession, deadline: Duration) async -> DriverReply {
        let milliseconds =
            Int64(deadline.components.seconds) * 1000 + deadline.components.attoseconds / 1_000_000_000_000_000
        return await session.request("call \(max(milliseconds, 1))", timeout: deadline + Self.monitorSlack)
    }

    private static func inputs(_ fields: [String: String]) -> Inputs {
        Inputs(
            hash: fields["inputs"] ?? "",
            flops: Double(fields["flops"] ?? "") ?? 0,
            bytes: Double(fields["bytes"] ?? "") ?? 0,
            outputBytes: Int(fields["outputs"] ?? "") ?? 0,
            threads: Int(fields["threads"] ?? "") ?? 0
        )
    }

    /// Sets up and calls the oracle once on (seed, perturbation); its outputs stay in its monitor.
    private func referenceCall(seed: UInt64, perturbation: UInt64 = 0) async throws(HarnessError) -> Inputs {
        let fields = try trusted(await setup(oracle, seed: seed, perturbation: perturbation), role: "oracle")
        workerCPU.add(nanoseconds: try trusted(await call(oracle, deadline: callTimeout * 4), role: "oracle")["cpu_ns"])
        return Self.inputs(fields)
    }

    /// Sets up and times the baseline once; returns its seconds, its CPU seconds and its inputs' hash.
    private func baselineCall(seed: UInt64, expected: String?) async throws(HarnessError) -> (Double, Double, String) {
        let fields = try trusted(await setup(baseline, seed: seed), role: "baseline")
        let hash = fields["inputs"] ?? ""
        if let expected, hash != expected { throw differentInputs() }
        let timed = try trusted(await call(baseline, deadline: callTimeout * 4), role: "baseline")
        workerCPU.add(nanoseconds: timed["cpu_ns"])
        if timed["inputs"] != hash {
            throw HarnessError(.taskBroken, "the task's baseline modified its inputs on shape '\(shape.name)'")
        }
        return ((Double(timed["ns"] ?? "") ?? 0) * 1e-9, (Double(timed["cpu_ns"] ?? "") ?? 0) * 1e-9, hash)
    }

    /// Checks the baseline's last outputs against the oracle's last reference.
    private func checkBaseline() async throws(HarnessError) {
        let bytes = try await outputs(of: baseline, role: "baseline")
        let metrics = try trusted(
            await oracle.request("check \(bytes.count)", payload: bytes, timeout: Self.setupTimeout),
            role: "oracle"
        )
        if let problem = toleranceProblem(metrics) {
            throw HarnessError(
                .taskBroken,
                "the task's baseline disagrees with its oracle on shape '\(shape.name)': \(problem); fix the task's baseline, oracle or tolerances"
            )
        }
    }

    private func outputs(of session: DriverSession, role: String) async throws(HarnessError) -> [UInt8] {
        let fields = try trusted(await session.request("out", timeout: Self.setupTimeout), role: role)
        let count = Int(fields["bytes"] ?? "") ?? -1
        guard count >= 0, let bytes = await session.readBytes(count, timeout: Self.setupTimeout) else {
            throw HarnessError(.internal, "Kiln's driver for the \(role) did not send the outputs it announced")
        }
        return bytes
    }

    // MARK: - The rival

    /// Sets up and times the rival once on `seed`; its time, or why it cannot be compared (a rival that
    /// fails is no fault of the candidate: the comparison is dropped, with the reason).
    private func rivalCall(seed: UInt64, expected: String?) async throws(HarnessError) -> (Double?, String?, String?) {
        guard let rival else { return (nil, "no rival", nil) }
        let hash: String
        switch await setup(rival, seed: seed) {
        case .ok(let fields):
            hash = fields["inputs"] ?? ""
            if let expected, hash != expected { throw differentInputs() }
        case .taskError(let message):
            throw HarnessError(.taskBroken, "the task's instance file failed on shape '\(shape.name)': \(message)")
        case let other: return (nil, Self.describeRival(other), nil)
        }
        switch await call(rival, deadline: callTimeout) {
        case .ok(let fields):
            workerCPU.add(nanoseconds: fields["cpu_ns"])
            guard fields["inputs"] == hash else { return (nil, "it modified its inputs", nil) }
            return ((Double(fields["ns"] ?? "") ?? 0) * 1e-9, nil, hash)
        case let other: return (nil, Self.describeRival(other), nil)
        }
    }

    /// Checks the rival's last outputs against the oracle's last reference; why it cannot be compared, or nil.
    private func checkRival() async throws(HarnessError) -> String? {
        guard let rival else { return "no rival" }
        switch await rival.request("out", timeout: Self.setupTimeout) {
        case .ok(let fields):
            let count = Int(fields["bytes"] ?? "") ?? -1
            guard count >= 0, let bytes = await rival.readBytes(count, timeout: Self.setupTimeout) else {
                return "its driver did not send the outputs it announced"
            }
            let metrics = try trusted(
                await oracle.request("check \(bytes.count)", payload: bytes, timeout: Self.setupTimeout),
                role: "oracle"
            )
            return toleranceProblem(metrics).map { "it gave a wrong result: \($0)" }
        case let other: return Self.describeRival(other)
        }
    }

    private static func describeRival(_ reply: DriverReply) -> String {
        switch reply {
        case .ok: "it answered out of turn"
        case .error(let message): "Kiln's driver for it failed: \(message.prefix(200))"
        case .taskError(let message): "the task failed: \(message.prefix(200))"
        case .raised(let message): "it raised \(message.prefix(200))"
        case .violation(let message): "it broke a rule: \(message.prefix(200))"
        case .dead(let death): "it died (\(death.status))"
        case .timeout: "it passed its deadline"
        case .lost: "its driver stopped answering"
        }
    }

    // MARK: - The candidate

    /// Sets up and times the candidate once; its outputs are taken by ``candidateOutputs()``.
    private func candidateCall(
        seed: UInt64,
        perturbation: UInt64 = 0,
        expected: String? = nil,
        result: inout ShapeResult
    ) async throws(HarnessError) -> CallOutcome {
        let hash: String
        switch await setup(candidate, seed: seed, perturbation: perturbation) {
        case .ok(let fields):
            hash = fields["inputs"] ?? ""
            if let expected, hash != expected { throw differentInputs() }
            let threads = Int(fields["threads"] ?? "") ?? 0
            if result.workerThreads == nil, threads > 0 { result.workerThreads = threads }
        case .dead(var death):
            if death.phase.isEmpty { death.phase = "setup" }
            return .died(death)
        case .timeout: return .failed(.timedOut, "did not start within 180 s")
        case .raised(let message) where message.hasPrefix("SyntaxError") || message.hasPrefix("IndentationError"):
            return .failed(.buildFailed, "does not compile: \(message)")
        case .raised(let message):
            return .failed(.crashed, "raised \(message) while being loaded (its module body) or set up")
        case .violation(let message) where message.hasPrefix("static: syntax error"):
            return .failed(.buildFailed, "does not compile: \(message.dropFirst("static: ".count))")
        case .violation(let message): return .failed(.integrityViolation, Self.violation(message))
        case .taskError(let message):
            throw HarnessError(.taskBroken, "the task's instance file failed on shape '\(shape.name)': \(message)")
        case .error(let message): throw Self.kilnError(message, role: "candidate", shape: shape.name)
        case .lost: throw HarnessError(.internal, "Kiln's driver for the candidate stopped answering")
        }
        switch await call(candidate, deadline: callTimeout) {
        case .ok(let fields):
            workerCPU.add(nanoseconds: fields["cpu_ns"])
            if fields["inputs"] != hash {
                return .failed(.integrityViolation, "modified its inputs: input buffers differ after the call")
            }
            guard checksWorkerAccounting else {
                return .ok(seconds: (Double(fields["ns"] ?? "") ?? 0) * 1e-9, cpuSeconds: 0, inputs: hash)
            }
            if fields["byte"] != "1" {
                return .failed(.integrityViolation, "wrote to the worker's control pipe (its 'done' signal was forged)")
            }
            let frozen = Double(fields["frozen_cpu_ns"] ?? "") ?? 0
            if frozen > Self.frozenThreshold {
                return .failed(
                    .integrityViolation,
                    String(format: "used %.1f ms of CPU while frozen between calls", frozen / 1e6)
                )
            }
            let after = Double(fields["after_ns"] ?? "") ?? 0
            if after > Self.afterReturnThreshold {
                return .failed(
                    .integrityViolation,
                    String(
                        format:
                            "kept working after returning: %.1f ms of CPU between its return and its freeze (a thread outlived the call)",
                        after / 1e6
                    )
                )
            }
            return .ok(
                seconds: (Double(fields["ns"] ?? "") ?? 0) * 1e-9,
                cpuSeconds: (Double(fields["cpu_ns"] ?? "") ?? 0) * 1e-9,
                inputs: hash
            )
        case .dead(var death):
            if death.phase.isEmpty { death.phase = "call" }
            return .died(death)
        case .timeout:
            return .failed(
                .timedOut,
                "did not finish the call within \(Evaluator.format(callTimeout)); its sandbox and process group were killed"
            )
        case .raised(let message): return .failed(.crashed, "raised \(message) during a call")
        case .violation(let message): return .failed(.integrityViolation, Self.violation(message))
        case .taskError(let message):
            throw HarnessError(.taskBroken, "the task's instance file failed on shape '\(shape.name)': \(message)")
        case .error(let message): throw Self.kilnError(message, role: "candidate", shape: shape.name)
        case .lost: throw HarnessError(.internal, "Kiln's driver for the candidate stopped answering")
        }
    }

    /// A driver's `violation` reason as a verdict's reason.
    private static func violation(_ message: String) -> String {
        if message.hasPrefix("static: ") {
            return "broke a rule before it ran (Kiln's check of its source): \(message.dropFirst("static: ".count))"
        }
        return "broke a rule: \(message)"
    }

    private func candidateOutputs() async throws(HarnessError) -> [UInt8] {
        try await outputs(of: candidate, role: "candidate")
    }

    /// Compares the candidate's outputs with the oracle's reference for the same inputs.
    private func check(_ bytes: [UInt8], result: inout ShapeResult) async throws(HarnessError) -> CallOutcome {
        let metrics = try trusted(
            await oracle.request("check \(bytes.count)", payload: bytes, timeout: Self.setupTimeout),
            role: "oracle"
        )
        result.checkedCalls += 1
        let maxAbs = Double(metrics["max_abs"] ?? "") ?? .infinity
        let relL2 = Double(metrics["rel_l2"] ?? "") ?? .infinity
        result.maxAbsError = max(result.maxAbsError ?? 0, maxAbs)
        result.relL2Error = max(result.relL2Error ?? 0, relL2)
        if let problem = toleranceProblem(metrics) { return .failed(.wrongResult, problem) }
        return .ok(seconds: 0, cpuSeconds: 0, inputs: "")
    }

    /// Describes how `metrics` (the oracle's comparison) break the task's tolerances, or nil.
    private func toleranceProblem(_ metrics: [String: String]) -> String? {
        let maxAbs = Double(metrics["max_abs"] ?? "") ?? .infinity
        let relL2 = Double(metrics["rel_l2"] ?? "") ?? .infinity
        let nonfinite = Int(metrics["nonfinite"] ?? "") ?? 0
        let worst = metrics["worst"] ?? "?"
        let expected = metrics["expected"] ?? "?"
        let got = metrics["got"] ?? "?"
        if nonfinite > 0 {
            return
                "\(nonfinite) output values are NaN or infinite (first at \(worst): expected \(expected), got \(got)); outputs left unwritten are NaN"
        }
        let tolerance = task.tolerance(forDtype: metrics["dtype"])
        if maxAbs > tolerance.maxAbs || relL2 > tolerance.relL2 || maxAbs.isNaN || relL2.isNaN {
            // Named only when the task has a tolerance of its own for the dtype.
            let dtype = metrics["dtype"].flatMap { task.tolerancesByDtype[$0] == nil ? nil : " for \($0)" } ?? ""
            return
                "max abs error \(g3(maxAbs)) (tolerance\(dtype) \(g3(tolerance.maxAbs))) at \(worst): expected \(expected), got \(got); relative L2 error \(g3(relL2)) (tolerance \(g3(tolerance.relL2)))"
        }
        return nil
    }
}

/// A number in `%.3g` form.
func g3(_ value: Double) -> String { String(format: "%.3g", value) }
