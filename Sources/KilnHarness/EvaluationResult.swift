package import Foundation
package import KilnTask

/// The verdict on a candidate: correct, or the first reason it is not.
///
/// Candidate failures are values, not errors: the harness only throws when Kiln itself or the
/// user's input is at fault.
package enum Verdict: String, Codable, Sendable, Hashable {
    /// Correct on every shape; timed.
    case correct
    /// Did not compile or link, or lacks the entry point.
    case buildFailed = "build_failed"
    /// Ran but computed something else than the oracle.
    case wrongResult = "wrong_result"
    /// The process crashed or ended before answering.
    case crashed
    /// A call ran past its deadline; its process group was killed.
    case timedOut = "timed_out"
    /// The candidate broke a rule of the harness: modified inputs, kept working after returning, made a
    /// forbidden system call, forged its done signal, would run code outside its entry point, included
    /// files it may not see, or asked for executable memory.
    case integrityViolation = "integrity_violation"
}

/// What an evaluation found on one shape.
package struct ShapeResult: Codable, Sendable, Hashable {
    /// The shape's name.
    package var name: String
    /// The shape's parameters, summarised.
    package var parameters: String
    /// Whether the candidate was correct on this shape; nil when it was not reached.
    package var correct: Bool?
    /// Why not, when it was not.
    package var failure: String?
    /// The largest absolute error seen on any checked call.
    package var maxAbsError: Double?
    /// The largest relative L2 error seen on any checked call.
    package var relL2Error: Double?
    /// How many calls' outputs were checked against the oracle.
    package var checkedCalls: Int
    /// The baseline's time per call, seconds: the lower decile of its timed calls (``DecileRatio``).
    package var baselineSeconds: Double?
    /// The candidate's time per call, seconds: the lower decile of its timed calls.
    package var candidateSeconds: Double?
    /// The baseline's time over the candidate's (``baselineSeconds`` / ``candidateSeconds``, each a lower
    /// decile; see ``DecileRatio``).
    package var speedup: Double?
    /// The 25th and 75th percentiles of the per-pair time ratios (baseline / candidate): how noisy the pairs
    /// were.
    package var speedupLow: Double?
    /// See ``speedupLow``.
    package var speedupHigh: Double?
    /// The number of timed pairs.
    package var pairs: Int
    /// True when the per-pair ratios spread so widely that the figures are not precise.
    package var isNoisy: Bool
    /// The candidate's rate, GFLOP/s.
    package var gflops: Double?
    /// The candidate's rate over the machine's measured all-core peak.
    package var fractionOfPeak: Double?
    /// The useful floating-point operations of one call.
    package var flops: Double
    /// The minimum bytes one call moves.
    package var bytes: Double
    /// Remarks: timing inconsistencies seen, noise, and the like.
    package var notes: [String]
    /// The candidate's CPU time over its wall time per timed call (median): the cores it kept busy.
    package var coresUsed: Double? = nil
    /// The OpenMP threads the candidate's worker started with.
    package var workerThreads: Int? = nil
    /// The baseline's median CPU time per timed call, seconds (all its threads, from the kernel's accounting).
    package var baselineCPUSeconds: Double? = nil
    /// The candidate's median CPU time per timed call, seconds.
    package var candidateCPUSeconds: Double? = nil
    /// The speedup's 95% interval (a bootstrap over the pairs; see ``DecileRatio``).
    package var speedupInterval: LogInterval? = nil
    /// The candidate's speed over the rival's (the run's best or a named candidate) timed in the same
    /// pairs: the rival's time over the candidate's (lower deciles, as ``speedup``), above 1 when the
    /// candidate is faster.
    package var versus: Double? = nil
    /// The quartiles of the per-pair ratios (rival time / candidate time).
    package var versusLow: Double? = nil
    /// See ``versusLow``.
    package var versusHigh: Double? = nil
    /// The comparison's 95% interval (a bootstrap over the pairs).
    package var versusInterval: LogInterval? = nil
    /// The rival's time (lower decile), seconds.
    package var rivalSeconds: Double? = nil
    /// The baseline's median time per call, seconds: unlike ``baselineSeconds`` it moves with the
    /// machine's load, which is what ``BaselineHistory`` watches.
    package var baselineMedianSeconds: Double? = nil
    /// The candidate's memory traffic at the minimum bytes a call moves, GB/s.
    package var achievedGbs: Double? = nil
    /// The useful operations per minimum byte moved (flops / bytes); nil when the task declares no bytes.
    package var arithmeticIntensity: Double? = nil
    /// The roofline bound at this intensity: the lower of the all-core peak and bandwidth x intensity,
    /// GFLOP/s (``Roofline``).
    package var rooflineGflops: Double? = nil
    /// The candidate's rate over the roofline bound (for a bandwidth-bound shape, its GB/s over the
    /// machine's bandwidth).
    package var fractionOfRoofline: Double? = nil
    /// True when the roofline bound is the bandwidth's, not the compute peak's.
    package var isMemoryBound: Bool? = nil
    /// How busy the machine was while this shape ran.
    package var load: MachineLoad? = nil
    /// The verdict this shape failed with; nil when it did not fail.
    package var verdict: Verdict? = nil

    /// Creates a shape's result (the harness fills one in as the shape runs; tests write one from values).
    /// - Parameters:
    ///   - name: the shape's name.
    ///   - parameters: its parameters, summarised.
    ///   - correct: whether the candidate was correct on it; nil when not reached.
    ///   - failure: why not, when it was not.
    ///   - maxAbsError: the largest absolute error seen.
    ///   - relL2Error: the largest relative L2 error seen.
    ///   - checkedCalls: how many calls' outputs were checked.
    ///   - baselineSeconds: the baseline's time per call (lower decile).
    ///   - candidateSeconds: the candidate's time per call (lower decile).
    ///   - speedup: baseline time over candidate time.
    ///   - speedupLow: the ratios' 25th percentile.
    ///   - speedupHigh: the ratios' 75th percentile.
    ///   - pairs: the number of timed pairs.
    ///   - isNoisy: whether the per-pair ratios spread too widely for precise figures.
    ///   - gflops: the candidate's rate, GFLOP/s.
    ///   - fractionOfPeak: that rate over the machine's all-core peak.
    ///   - flops: the useful floating-point operations of one call.
    ///   - bytes: the minimum bytes one call moves.
    ///   - notes: remarks.
    ///   - coresUsed: the cores the candidate kept busy (median).
    ///   - workerThreads: the OpenMP threads its worker started with.
    ///   - baselineCPUSeconds: the baseline's median CPU time per timed call.
    ///   - candidateCPUSeconds: the candidate's median CPU time per timed call.
    package init(
        name: String,
        parameters: String,
        correct: Bool?,
        failure: String?,
        maxAbsError: Double?,
        relL2Error: Double?,
        checkedCalls: Int,
        baselineSeconds: Double?,
        candidateSeconds: Double?,
        speedup: Double?,
        speedupLow: Double?,
        speedupHigh: Double?,
        pairs: Int,
        isNoisy: Bool,
        gflops: Double?,
        fractionOfPeak: Double?,
        flops: Double,
        bytes: Double,
        notes: [String],
        coresUsed: Double? = nil,
        workerThreads: Int? = nil,
        baselineCPUSeconds: Double? = nil,
        candidateCPUSeconds: Double? = nil
    ) {
        self.name = name
        self.parameters = parameters
        self.correct = correct
        self.failure = failure
        self.maxAbsError = maxAbsError
        self.relL2Error = relL2Error
        self.checkedCalls = checkedCalls
        self.baselineSeconds = baselineSeconds
        self.candidateSeconds = candidateSeconds
        self.speedup = speedup
        self.speedupLow = speedupLow
        self.speedupHigh = speedupHigh
        self.pairs = pairs
        self.isNoisy = isNoisy
        self.gflops = gflops
        self.fractionOfPeak = fractionOfPeak
        self.flops = flops
        self.bytes = bytes
        self.notes = notes
        self.coresUsed = coresUsed
        self.workerThreads = workerThreads
        self.baselineCPUSeconds = baselineCPUSeconds
        self.candidateCPUSeconds = candidateCPUSeconds
    }
}

/// Everything an evaluation of one candidate found.
package struct EvaluationResult: Codable, Sendable, Hashable {
    /// True exactly when the verdict is ``Verdict/correct``.
    package var correct: Bool
    /// The verdict.
    package var verdict: Verdict
    /// The first reason the candidate failed, in one line; nil when correct.
    package var failure: String?
    /// The geometric mean over shapes of the speedups; nil unless correct.
    package var geomeanSpeedup: Double?
    /// Per-shape detail.
    package var shapes: [ShapeResult]
    /// The task's name.
    package var task: String
    /// The candidate's display name.
    package var candidate: String
    /// The tunable configuration it was built with.
    package var configuration: TunableConfiguration
    /// The compiler flags it was built with, defines included.
    package var flags: [String]
    /// The compiler's output, capped.
    package var buildLog: String
    /// The machine it ran on.
    package var machine: MachineProfile
    /// A SHA-256 of everything that determined this result.
    package var contentHash: String
    /// True when this result came from the cache instead of being measured now.
    package var isCached: Bool
    /// The seed the input seeds were drawn from.
    package var seed: UInt64
    /// How long the evaluation took, seconds (of the run that measured it).
    package var wallSeconds: Double
    /// When it was measured.
    package var measuredAt: Date
    /// False when the candidate ran without Kiln's sandbox (`--unsafe-no-sandbox`): its figures could
    /// have been forged.
    package var isSandboxed: Bool = true
    /// The device the implementations ran on (`cpu`, `cuda:0 ...`, `cpu-interpreter`); nil in results made
    /// before backends.
    package var device: String?
    /// The geometric-mean speedup's 95% interval, from the shapes' intervals.
    package var speedupInterval: LogInterval?
    /// How the candidate compared with a rival timed beside it, when one was.
    package var comparison: Comparison?
    /// How busy the machine was while the shapes ran; nil in results from before it was measured.
    package var load: MachineLoad? = nil
    /// Why nothing was timed, when the device cannot time (Triton's CPU interpreter): such a result is
    /// correct or not, never faster or slower.
    package var timingUnavailable: String?
    /// The cluster node that measured it, when an executor other than the local one ran the evaluation;
    /// nil for a result measured where Kiln runs (and in results made before executors).
    package var node: EvaluationNode?

    private enum CodingKeys: String, CodingKey {
        case correct, verdict, failure, geomeanSpeedup, shapes, task, candidate, configuration, flags, buildLog
        case machine, contentHash, isCached, seed, wallSeconds, measuredAt, isSandboxed, device, timingUnavailable
        case node
        case speedupInterval, comparison, load
    }

    /// Creates a result.
    package init(
        correct: Bool,
        verdict: Verdict,
        failure: String?,
        geomeanSpeedup: Double?,
        shapes: [ShapeResult],
        task: String,
        candidate: String,
        configuration: TunableConfiguration,
        flags: [String],
        buildLog: String,
        machine: MachineProfile,
        contentHash: String,
        isCached: Bool,
        seed: UInt64,
        wallSeconds: Double,
        measuredAt: Date,
        isSandboxed: Bool = true,
        load: MachineLoad? = nil
    ) {
        self.correct = correct
        self.verdict = verdict
        self.failure = failure
        self.geomeanSpeedup = geomeanSpeedup
        self.shapes = shapes
        self.task = task
        self.candidate = candidate
        self.configuration = configuration
        self.flags = flags
        self.buildLog = buildLog
        self.machine = machine
        self.contentHash = contentHash
        self.isCached = isCached
        self.seed = seed
        self.wallSeconds = wallSeconds
        self.measuredAt = measuredAt
        self.isSandboxed = isSandboxed
        self.load = load
    }

    /// Decodes a result; results journaled before the sandbox existed read as sandboxed.
    /// - Parameter decoder: the decoder.
    /// - Throws: a decoding error.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        correct = try container.decode(Bool.self, forKey: .correct)
        verdict = try container.decode(Verdict.self, forKey: .verdict)
        failure = try container.decodeIfPresent(String.self, forKey: .failure)
        geomeanSpeedup = try container.decodeIfPresent(Double.self, forKey: .geomeanSpeedup)
        shapes = try container.decode([ShapeResult].self, forKey: .shapes)
        task = try container.decode(String.self, forKey: .task)
        candidate = try container.decode(String.self, forKey: .candidate)
        configuration = try container.decode(TunableConfiguration.self, forKey: .configuration)
        flags = try container.decode([String].self, forKey: .flags)
        buildLog = try container.decode(String.self, forKey: .buildLog)
        machine = try container.decode(MachineProfile.self, forKey: .machine)
        contentHash = try container.decode(String.self, forKey: .contentHash)
        isCached = try container.decode(Bool.self, forKey: .isCached)
        seed = try container.decode(UInt64.self, forKey: .seed)
        wallSeconds = try container.decode(Double.self, forKey: .wallSeconds)
        measuredAt = try container.decode(Date.self, forKey: .measuredAt)
        isSandboxed = try container.decodeIfPresent(Bool.self, forKey: .isSandboxed) ?? true
        device = try container.decodeIfPresent(String.self, forKey: .device)
        timingUnavailable = try container.decodeIfPresent(String.self, forKey: .timingUnavailable)
        node = try container.decodeIfPresent(EvaluationNode.self, forKey: .node)
        speedupInterval = try container.decodeIfPresent(LogInterval.self, forKey: .speedupInterval)
        comparison = try container.decodeIfPresent(Comparison.self, forKey: .comparison)
        load = try container.decodeIfPresent(MachineLoad.self, forKey: .load)
    }

    /// Encodes the result; `failure` and `geomean_speedup` are always present, as null when absent.
    /// - Parameter encoder: the encoder.
    /// - Throws: an encoding error.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(correct, forKey: .correct)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(failure, forKey: .failure)
        try container.encode(geomeanSpeedup, forKey: .geomeanSpeedup)
        try container.encode(shapes, forKey: .shapes)
        try container.encode(task, forKey: .task)
        try container.encode(candidate, forKey: .candidate)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(flags, forKey: .flags)
        try container.encode(buildLog, forKey: .buildLog)
        try container.encode(machine, forKey: .machine)
        try container.encode(contentHash, forKey: .contentHash)
        try container.encode(isCached, forKey: .isCached)
        try container.encode(seed, forKey: .seed)
        try container.encode(wallSeconds, forKey: .wallSeconds)
        try container.encode(measuredAt, forKey: .measuredAt)
        try container.encode(isSandboxed, forKey: .isSandboxed)
        try container.encodeIfPresent(device, forKey: .device)
        try container.encodeIfPresent(timingUnavailable, forKey: .timingUnavailable)
        try container.encodeIfPresent(node, forKey: .node)
        try container.encodeIfPresent(speedupInterval, forKey: .speedupInterval)
        try container.encodeIfPresent(comparison, forKey: .comparison)
        try container.encodeIfPresent(load, forKey: .load)
    }
}

/// How a candidate compared with a rival timed in the same pairs of the same evaluation.
package struct Comparison: Codable, Sendable, Hashable {
    /// The rival's name (`#12`).
    package var rival: String
    /// The rival's candidate number in its run, when it has one.
    package var rivalCandidate: Int?
    /// The geometric mean over shapes of the candidate's speed over the rival's.
    package var ratio: Double
    /// Its 95% interval.
    package var low: Double
    /// See ``low``.
    package var high: Double
    /// Better, the same within the noise measured, or worse.
    package var verdict: ComparisonVerdict
    /// The shapes compared (a rival that failed on a shape is not compared there).
    package var shapes: Int

    /// Creates a comparison.
    /// - Parameters:
    ///   - rival: the rival's name.
    ///   - rivalCandidate: its candidate number.
    ///   - interval: the geometric mean's interval.
    ///   - shapes: the shapes compared.
    package init(rival: String, rivalCandidate: Int?, interval: LogInterval, shapes: Int) {
        self.rival = rival
        self.rivalCandidate = rivalCandidate
        self.ratio = interval.value
        self.low = interval.low
        self.high = interval.high
        self.verdict = interval.verdict
        self.shapes = shapes
    }

    /// `vs #12: 1.04x (95% interval 1.01-1.07): better`.
    package var summary: String {
        String(format: "vs %@: %.2fx (95%% interval %.2f-%.2f): %@", rival, ratio, low, high, verdictText)
    }

    /// The verdict in words.
    package var verdictText: String {
        switch verdict {
        case .better: "better"
        case .same: "the same within the noise measured"
        case .worse: "worse"
        }
    }
}

extension EvaluationResult {
    /// The speedup as people read it: `1.23x`; `correct (not timed)` when the device cannot time or the
    /// evaluation checked correctness only; the verdict when it failed.
    package var speedupLabel: String {
        guard correct else { return verdict.rawValue }
        return geomeanSpeedup.map { String(format: "%.2fx", $0) } ?? "correct (not timed)"
    }
}
