import Foundation
import KilnTask

/// What running one shape came to, before the candidate's process end is known.
enum ShapeOutcome: Sendable {
    /// Checked (and timed, if asked) without fault.
    case passed(ShapeResult)
    /// The candidate failed with a verdict and a one-line reason.
    case failed(ShapeResult, Verdict, String)
    /// The candidate's process ended or was killed while `phase` was under way.
    case candidateDied(ShapeResult, phase: String)
}

/// The three workers of one shape (oracle, baseline, candidate) and the protocol between them.
///
/// Inputs are regenerated from (shape, seed) in each process. The oracle's outputs never leave the
/// oracle's process: the candidate's outputs are sent to it for comparison. Every timed call gets a
/// fresh seed, and its outputs are checked too.
struct ShapeRun {
    let shape: Shape
    let task: KernelTask
    let oracle: WorkerSession
    let baseline: WorkerSession
    let candidate: WorkerSession
    let options: EvaluationOptions
    let profile: MachineProfile
    let callTimeout: Duration
    let isTimed: Bool

    private static let setupTimeout: Duration = .seconds(120)
    /// CPU (nanoseconds) an idle worker may burn in a 30 ms window; idle OpenMP threads use ~0.1 ms.
    private static let idleThreshold = 3e6

    private struct Reference {
        var inputs: String
        var flops: Double
        var bytes: Double
        var outputBytes: Int
    }

    private enum CallOutcome {
        case ok(seconds: Double)
        case failed(Verdict, String)
        case died(String)
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

    func run(seeds: inout SeedGenerator) async throws(HarnessError) -> ShapeOutcome {
        var result = emptyResult
        for (session, role) in [(oracle, "oracle"), (baseline, "baseline")] {
            _ = try trusted(await session.awaitReady(timeout: Self.setupTimeout), role: role)
        }
        switch await candidate.awaitReady(timeout: Self.setupTimeout) {
        case .ok: break
        case .died: return .candidateDied(result, phase: "start-up")
        case .startTime: throw HarnessError(.internal, "a candidate worker sent a start time before any call")
        case .error(let message), .taskError(let message):
            throw HarnessError(.internal, "a candidate worker failed to start: \(message)")
        }

        // Correctness on a fresh input set; the baseline is checked against the oracle too.
        let firstSeed = seeds.next()
        let reference = try await prepareReference(seed: firstSeed)
        result.flops = reference.flops
        result.bytes = reference.bytes
        if isTimed { try await checkBaseline(seed: firstSeed, reference: reference) }
        switch try await candidateCall(seed: firstSeed, reference: reference, result: &result) {
        case .ok: break
        case .failed(let verdict, let reason): return .failed(result, verdict, reason)
        case .died(let phase): return .candidateDied(result, phase: phase)
        }
        // The same inputs with a few values changed, in the same buffers: a candidate that caches
        // answers keyed on pointers or on a sample of its inputs answers stale here.
        let perturbation = max(seeds.next(), 1)
        let perturbed = try await prepareReference(seed: firstSeed, perturbation: perturbation)
        switch try await candidateCall(
            seed: firstSeed,
            perturbation: perturbation,
            reference: perturbed,
            result: &result
        )
        {
        case .ok: break
        case .failed(let verdict, let reason):
            return .failed(result, verdict, reason + " (on inputs changed in a few places from the previous call)")
        case .died(let phase): return .candidateDied(result, phase: phase)
        }
        guard isTimed else {
            result.correct = true
            return .passed(result)
        }

        // Warm-up, unchecked, on inputs of its own.
        for _ in 0..<options.warmups {
            let seed = seeds.next()
            _ = try await baselineCall(seed: seed, reference: nil)
            switch try await timedCall(candidate, seed: seed, role: "candidate") {
            case .ok: break
            case .failed(let verdict, let reason): return .failed(result, verdict, reason)
            case .died(let phase): return .candidateDied(result, phase: phase)
            }
        }

        // Interleaved pairs, each on inputs neither side has seen.
        var ratios: [Double] = []
        var baselineTimes: [Double] = []
        var candidateTimes: [Double] = []
        let clock = ContinuousClock()
        let start = clock.now
        while ratios.count < options.maxPairs {
            let seed = seeds.next()
            let reference = try await prepareReference(seed: seed)
            var baselineSeconds = 0.0
            var candidateSeconds = 0.0
            let candidateFirst = ratios.count % 2 == 1
            for turn in 0..<2 {
                if (turn == 0) == candidateFirst {
                    switch try await timedCall(candidate, seed: seed, role: "candidate", reference: reference) {
                    case .ok(let seconds):
                        candidateSeconds = seconds
                    case .failed(let verdict, let reason): return .failed(result, verdict, reason)
                    case .died(let phase): return .candidateDied(result, phase: phase)
                    }
                } else {
                    baselineSeconds = try await baselineCall(seed: seed, reference: reference)
                }
            }
            switch try await inspectCandidate(reference: reference, result: &result) {
            case .ok: break
            case .failed(let verdict, let reason): return .failed(result, verdict, reason)
            case .died(let phase): return .candidateDied(result, phase: phase)
            }
            ratios.append(baselineSeconds / candidateSeconds)
            baselineTimes.append(baselineSeconds)
            candidateTimes.append(candidateSeconds)
            let spread = TimingStatistics(ratios).relativeSpread ?? 1
            if ratios.count >= options.minPairs
                && (spread <= options.targetSpread || clock.now - start >= options.shapeTimeBudget)
            {
                break
            }
        }
        let ratioStats = TimingStatistics(ratios)
        let candidateMedian = TimingStatistics(candidateTimes).median ?? 0
        result.pairs = ratios.count
        result.speedup = ratioStats.median
        result.speedupLow = ratioStats.quantile(0.25)
        result.speedupHigh = ratioStats.quantile(0.75)
        result.baselineSeconds = TimingStatistics(baselineTimes).median
        result.candidateSeconds = candidateMedian
        if let spread = ratioStats.relativeSpread, spread > options.noisySpread {
            result.isNoisy = true
            result.notes.append(
                String(format: "noisy: the middle half of the ratios spans %.0f%% of the median", spread * 100)
            )
        }
        if candidateMedian > 0, reference.flops > 0 {
            let gflops = reference.flops / candidateMedian / 1e9
            result.gflops = gflops
            result.fractionOfPeak = gflops / profile.peakGflopsAll
            if gflops > profile.peakGflopsAll * 1.1 {
                return .failed(
                    result,
                    .integrityViolation,
                    String(
                        format:
                            "impossible speed: %.1f GFLOP/s exceeds this machine's measured peak of %.1f; the candidate skipped work or the timing was tampered with",
                        gflops,
                        profile.peakGflopsAll
                    )
                )
            }
        }
        result.correct = true
        return .passed(result)
    }

    // MARK: - The trusted side

    private func trusted(_ reply: WorkerReply, role: String) throws(HarnessError) -> [String: String] {
        switch reply {
        case .ok(let fields): return fields
        case .taskError(let message):
            throw HarnessError(.taskBroken, "the task's instance file failed on shape '\(shape.name)': \(message)")
        case .error(let message):
            throw HarnessError(.internal, "the \(role) worker refused a command on shape '\(shape.name)': \(message)")
        case .startTime:
            throw HarnessError(.internal, "the \(role) worker sent a start time out of turn on shape '\(shape.name)'")
        case .died:
            throw HarnessError(
                .taskBroken,
                "the task's \(role) crashed or timed out on shape '\(shape.name)'; run it by hand to debug"
            )
        }
    }

    private func prepareReference(seed: UInt64, perturbation: UInt64 = 0) async throws(HarnessError) -> Reference {
        let setup = try trusted(
            await oracle.request("setup \(seed) \(perturbation)", timeout: Self.setupTimeout),
            role: "oracle"
        )
        switch await oracle.timedCall(timeout: callTimeout * 4) {
        case .timed: break
        case .reply(let reply): _ = try trusted(reply, role: "oracle")
        case .outOfProtocol(let message):
            throw HarnessError(.internal, "the oracle worker broke the protocol: \(message)")
        }
        return Reference(
            inputs: setup["inputs"] ?? "",
            flops: Double(setup["flops"] ?? "") ?? 0,
            bytes: Double(setup["bytes"] ?? "") ?? 0,
            outputBytes: Int(setup["outputs"] ?? "") ?? 0
        )
    }

    private func checkBaseline(seed: UInt64, reference: Reference) async throws(HarnessError) {
        _ = try await baselineCall(seed: seed, reference: reference)
        _ = try trusted(await baseline.request("out", timeout: Self.setupTimeout), role: "baseline")
        guard let bytes = await baseline.readBytes(reference.outputBytes, timeout: Self.setupTimeout) else {
            throw HarnessError(.taskBroken, "the task's baseline died while sending its outputs")
        }
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

    private func baselineCall(seed: UInt64, reference: Reference?) async throws(HarnessError) -> Double {
        let setup = try trusted(await baseline.request("setup \(seed)", timeout: Self.setupTimeout), role: "baseline")
        if let reference, setup["inputs"] != reference.inputs {
            throw HarnessError(
                .taskBroken,
                "the task's instance file made different inputs from the same seed in two processes; it must depend only on (shape, seed)"
            )
        }
        switch await baseline.timedCall(timeout: callTimeout * 4) {
        case .timed(let fields, let start, let sent, let received):
            switch Self.timing(fields, announcedStart: start, sent: sent, received: received) {
            case .success(let seconds): return seconds
            case .failure(let problem):
                throw HarnessError(.internal, "the baseline's timing is inconsistent: \(problem.message)")
            }
        case .reply(let reply):
            _ = try trusted(reply, role: "baseline")
            throw HarnessError(.internal, "the baseline worker answered 'call' out of protocol")
        case .outOfProtocol(let message):
            throw HarnessError(.internal, "the baseline worker broke the protocol: \(message)")
        }
    }

    // MARK: - The candidate

    /// Sets up and calls the candidate once, timed; the outputs are inspected separately.
    private func timedCall(
        _ session: WorkerSession,
        seed: UInt64,
        perturbation: UInt64 = 0,
        role: String,
        reference: Reference? = nil
    ) async throws(HarnessError) -> CallOutcome {
        switch await session.request("setup \(seed) \(perturbation)", timeout: Self.setupTimeout) {
        case .ok(let fields):
            if let reference, fields["inputs"] != reference.inputs {
                throw HarnessError(
                    .taskBroken,
                    "the task's instance file made different inputs from the same seed in two processes; it must depend only on (shape, seed)"
                )
            }
        case .died: return .died("setting up inputs")
        case .startTime: return .failed(.integrityViolation, "broke the driver's protocol (it wrote to Kiln's pipe)")
        case .error(let message), .taskError(let message):
            throw HarnessError(.taskBroken, "the \(role) worker could not set up shape '\(shape.name)': \(message)")
        }
        switch await session.timedCall(timeout: callTimeout) {
        case .timed(let fields, let start, let sent, let received):
            switch Self.timing(fields, announcedStart: start, sent: sent, received: received) {
            case .success(let seconds): return .ok(seconds: seconds)
            case .failure(let problem): return .failed(.integrityViolation, "timer tampering: \(problem.message)")
            }
        case .reply(.died): return .died("the call")
        case .reply(.error(let message)), .reply(.taskError(let message)):
            return .failed(.crashed, "the worker failed during the call: \(message)")
        case .reply:
            return .failed(.integrityViolation, "broke the driver's protocol during the call (it wrote to Kiln's pipe)")
        case .outOfProtocol(let message):
            return .failed(.integrityViolation, "broke the driver's protocol during the call (\(message.prefix(120)))")
        }
    }

    struct TimingProblem: Error {
        var message: String
    }

    /// The call's duration from the driver's clock readings, after checking them against Kiln's: the
    /// start was announced before the implementation ran and no earlier than Kiln sent the command,
    /// the end is no later than the reply's arrival, and the reply repeats the announced start.
    static func timing(
        _ fields: [String: String],
        announcedStart: Int64,
        sent: Int64,
        received: Int64
    ) -> Result<Double, TimingProblem> {
        guard let ns = Int64(fields["ns"] ?? ""), let start = Int64(fields["start"] ?? ""),
            let end = Int64(fields["end"] ?? "")
        else { return .failure(TimingProblem(message: "the reply to 'call' lacks its times")) }
        let tolerance: Int64 = 2_000  // clock reads in two processes, rounding
        if start != announcedStart || ns != end - start || end < start {
            return .failure(
                TimingProblem(message: "the reported times do not match the start announced before the call")
            )
        }
        if start < sent - tolerance || end > received + tolerance {
            return .failure(TimingProblem(message: "the reported times lie outside the interval Kiln observed"))
        }
        return .success(Double(ns) * 1e-9)
    }

    private func candidateCall(
        seed: UInt64,
        perturbation: UInt64 = 0,
        reference: Reference,
        result: inout ShapeResult
    ) async throws(HarnessError) -> CallOutcome {
        switch try await timedCall(
            candidate,
            seed: seed,
            perturbation: perturbation,
            role: "candidate",
            reference: reference
        )
        {
        case .ok: return try await inspectCandidate(reference: reference, result: &result)
        case let other: return other
        }
    }

    /// After a call: did the candidate leave its inputs alone, stop working when it returned, and
    /// compute what the oracle computed?
    private func inspectCandidate(reference: Reference, result: inout ShapeResult) async throws(HarnessError)
        -> CallOutcome
    {
        // A thread left running burns CPU while the worker idles. One busy window can be noise on a
        // loaded machine, so a second confirms; only two in a row count.
        var idleWindows: [Double] = []
        for _ in 0..<2 {
            let post: [String: String]
            switch await candidate.request("post", timeout: Self.setupTimeout) {
            case .ok(let fields): post = fields
            case .died: return .died("the moments after the call returned")
            case .startTime:
                return .failed(.integrityViolation, "broke the driver's protocol (it wrote to Kiln's pipe)")
            case .error(let message), .taskError(let message):
                throw HarnessError(.internal, "the candidate worker refused 'post': \(message)")
            }
            if post["inputs"] != reference.inputs {
                return .failed(.integrityViolation, "modified its inputs: input buffers differ after the call")
            }
            if post["outputs_changed"] == "1" {
                return .failed(
                    .integrityViolation,
                    "kept working after returning: outputs changed after the call returned (a thread outlived the call)"
                )
            }
            let idle = Double(post["idle_cpu_ns"] ?? "") ?? 0
            idleWindows.append(idle)
            if idle <= Self.idleThreshold { break }
        }
        if idleWindows.count == 2, idleWindows.allSatisfy({ $0 > Self.idleThreshold }) {
            return .failed(
                .integrityViolation,
                String(
                    format:
                        "kept working after returning: %.1f and %.1f ms of CPU in two 30 ms idle windows after the call (a thread outlived the call)",
                    idleWindows[0] / 1e6,
                    idleWindows[1] / 1e6
                )
            )
        }
        switch await candidate.request("out", timeout: Self.setupTimeout) {
        case .ok: break
        case .died: return .died("sending its outputs")
        case .startTime: return .failed(.integrityViolation, "broke the driver's protocol (it wrote to Kiln's pipe)")
        case .error(let message), .taskError(let message):
            throw HarnessError(.internal, "the candidate worker refused 'out': \(message)")
        }
        guard let bytes = await candidate.readBytes(reference.outputBytes, timeout: Self.setupTimeout) else {
            return .died("sending its outputs")
        }
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
        return .ok(seconds: 0)
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
        if maxAbs > task.tolerance.maxAbs || relL2 > task.tolerance.relL2 || maxAbs.isNaN || relL2.isNaN {
            return
                "max abs error \(g3(maxAbs)) (tolerance \(g3(task.tolerance.maxAbs))) at \(worst): expected \(expected), got \(got); relative L2 error \(g3(relL2)) (tolerance \(g3(task.tolerance.relL2)))"
        }
        return nil
    }
}

/// A number in `%.3g` form.
func g3(_ value: Double) -> String { String(format: "%.3g", value) }
