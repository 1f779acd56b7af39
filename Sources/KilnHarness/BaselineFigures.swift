package import Foundation
package import KilnTask

/// What a task's baseline does on this machine, shape by shape: the figures a candidate's speedups
/// are ratios against, and how far the baseline is from the machine's measured peaks.
package struct BaselineFigures: Codable, Sendable, Hashable {
    /// One suite shape's figures.
    package struct ShapeFigures: Codable, Sendable, Hashable {
        /// The shape's name.
        package var name: String
        /// Its parameters, summarised.
        package var parameters: String
        /// The baseline's time per call (the lower decile of its timed calls), seconds.
        package var seconds: Double
        /// Its rate, GFLOP/s.
        package var gflops: Double
        /// That rate over the machine's measured all-core peak.
        package var fractionOfPeak: Double
        /// Its memory traffic at the minimum bytes a call must move, GB/s.
        package var gbs: Double
        /// The useful floating-point operations of one call.
        package var flops: Double
        /// The minimum bytes one call moves.
        package var bytes: Double
        /// How many timed calls the time is over.
        package var calls: Int
        /// The useful operations per minimum byte moved; nil when the task declares no bytes.
        package var arithmeticIntensity: Double? = nil
        /// The roofline bound at that intensity, GFLOP/s.
        package var rooflineGflops: Double? = nil
        /// Its rate over the roofline bound.
        package var fractionOfRoofline: Double? = nil
        /// True when bandwidth, not compute, bounds it.
        package var isMemoryBound: Bool? = nil
    }

    /// The task's name.
    package var task: String
    /// How the baseline is built.
    package var flags: [String]
    /// Per suite shape.
    package var shapes: [ShapeFigures]
    /// The machine they were measured on.
    package var machine: MachineProfile
    /// When they were measured.
    package var measuredAt: Date
    /// True when they came from the result cache instead of being measured now.
    package var isCached: Bool
}

extension Evaluator {
    /// Measures the task's baseline on its suite, through the same harness as any candidate (the
    /// baseline's own source is evaluated against the baseline, so the figures are the baseline
    /// worker's timed calls, and the baseline is checked against the oracle on the way). Cached like
    /// any evaluation: only the first call for a task on a machine takes time.
    /// - Parameters:
    ///   - task: the task.
    ///   - options: how thoroughly to time it.
    /// - Returns: the figures.
    /// - Throws: ``HarnessError`` when the baseline cannot be built or fails its own oracle (a broken
    ///   task), or what the evaluation throws.
    package func baselineFigures(for task: KernelTask, options: EvaluationOptions = .init()) async throws
        -> BaselineFigures
    {
        let source: String
        do {
            source = try String(contentsOf: task.url(of: task.baseline), encoding: .utf8)
        } catch {
            throw HarnessError(.io, "cannot read the task's baseline \(task.baseline)", underlying: error)
        }
        let result = try await evaluate(
            EvaluationRequest(
                task: task,
                source: source,
                candidateName: task.baseline,
                configuration: TunableConfiguration(values: [:], flagSet: 0),
                shapes: task.suite,
                options: options
            )
        )
        guard result.correct else {
            throw HarnessError(
                .taskBroken,
                "the task's baseline \(task.baseline) does not pass its own oracle (\(result.verdict.rawValue): \(result.failure ?? "")); the task is broken"
            )
        }
        var shapes: [BaselineFigures.ShapeFigures] = []
        for shape in result.shapes {
            guard let seconds = shape.baselineSeconds, seconds > 0 else { continue }
            // The baseline's own figures: the same arithmetic as a candidate's, at the baseline's time.
            var figures = shape
            figures.candidateSeconds = seconds
            figures.applyMachine(result.machine)
            shapes.append(
                .init(
                    name: shape.name,
                    parameters: shape.parameters,
                    seconds: seconds,
                    gflops: figures.gflops ?? 0,
                    fractionOfPeak: figures.fractionOfPeak ?? 0,
                    gbs: shape.bytes / seconds / 1e9,
                    flops: shape.flops,
                    bytes: shape.bytes,
                    calls: shape.pairs,
                    arithmeticIntensity: figures.arithmeticIntensity,
                    rooflineGflops: figures.rooflineGflops,
                    fractionOfRoofline: figures.fractionOfRoofline,
                    isMemoryBound: figures.isMemoryBound
                )
            )
        }
        return BaselineFigures(
            task: task.name,
            flags: task.build.baselineFlags,
            shapes: shapes,
            machine: result.machine,
            measuredAt: result.measuredAt,
            isCached: result.isCached
        )
    }
}
