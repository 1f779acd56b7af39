import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask

/// Evaluations as the model reads them: the verdict and errors first, then one line per shape.
enum EvaluationText {
    /// An evaluation: the candidate, the verdict (once), whether the cache answered, and per-shape figures.
    /// - Parameters:
    ///   - result: the result.
    ///   - candidate: the candidate.
    ///   - best: the best full-suite speedup so far.
    /// - Returns: the text.
    static func describe(_ result: EvaluationResult, candidate: CandidateRecord, best: Double?) -> String {
        var lines = ["candidate #\(candidate.id) (\(candidate.file ?? "?"), \(candidate.configuration.label))"]
        if let node = result.node { lines.append("measured on node \(node.name) (\(result.nodeKind))") }
        if !result.correct {
            lines += failure(result)
        } else if let geomean = result.geomeanSpeedup {
            lines.append(
                String(format: "correct · geometric-mean speedup %.2fx", geomean)
                    + (result.speedupInterval.map { String(format: " (95%% interval %.2f-%.2f)", $0.low, $0.high) }
                        ?? "")
                    + (candidate.shapes != nil ? " on a partial suite (not ranked)" : "")
                    + (best.map { String(format: " · best so far %.2fx", $0) } ?? "")
            )
            if let comparison = result.comparison {
                lines.append(
                    "timed beside \(comparison.rival) in the same pairs: \(comparison.summary)"
                        + (comparison.verdict == .better
                            ? "" : "; a candidate replaces the best it was timed beside only when better")
                )
            }
        } else {
            let why = result.timingUnavailable ?? "checked for correctness only"
            lines.append("correct on \(result.shapes.count) shapes, not timed: \(why)")
        }
        if let load = result.load, result.geomeanSpeedup != nil {
            // A busy machine or a drifting baseline moves every figure above: the model must know.
            lines.append(
                "load: \(load.note)"
                    + (load.isBusy
                        ? " (figures taken on a busy machine: compare beside the best, or evaluate again with fresh: true)"
                        : "")
            )
        }
        if result.isCached {
            lines.append(
                "(the cached result of an identical earlier evaluation; evaluate with fresh: true measures it again)"
            )
        }
        lines += result.shapes.map(shapeLine)
        return lines.joined(separator: "\n")
    }

    /// The verdict of a failed evaluation and, for a build that failed, the compiler's output: each said
    /// once (the failure line is the first error of the log, which follows in full when it adds to it).
    static func failure(_ result: EvaluationResult) -> [String] {
        let reason = result.failure ?? ""
        var lines = ["FAILED (\(result.verdict.rawValue)): \(reason)"]
        if result.verdict == .buildFailed {
            let log = result.buildLog.trimmingCharacters(in: .whitespacesAndNewlines)
            let rest = log.replacingOccurrences(of: reason, with: "").trimmingCharacters(in: .whitespacesAndNewlines)
            if !rest.isEmpty {
                if log.contains(reason), !reason.isEmpty {
                    lines[0] = "FAILED (\(result.verdict.rawValue)); the compiler said:"
                }
                lines.append(ToolText.capped(log, limit: 2500))
            }
        }
        return lines
    }

    /// One shape: WRONG (or the verdict it failed with) and why, or the speedup with its spread, times,
    /// rates, roofline and error, and how it compared with the rival timed beside it.
    static func shapeLine(_ shape: ShapeResult) -> String {
        var line = "\(shape.name): "
        if shape.correct == false {
            line += "\(shape.failureLabel): \(shape.failure ?? "")"
        } else if let speedup = shape.speedup {
            line += String(
                format: "%.2fx (IQR %.2f-%.2f) baseline %.3g ms, candidate %.3g ms, %.1f GFLOP/s",
                speedup,
                shape.speedupLow ?? 0,
                shape.speedupHigh ?? 0,
                (shape.baselineSeconds ?? 0) * 1e3,
                (shape.candidateSeconds ?? 0) * 1e3,
                shape.gflops ?? 0
            )
            if let fraction = shape.fractionOfPeak { line += String(format: ", %.1f%% of peak", fraction * 100) }
            line += shape.measurementSuffix
            line += String(format: ", max err %.1e", shape.maxAbsError ?? 0)
            if let versus = versusText(shape) { line += "; " + versus }
        } else {
            line += shape.correct == true ? "correct" : "not reached"
        }
        return line
    }

    /// `vs #12 1.04x (IQR 0.98-1.09)`, when a rival was timed beside the candidate on this shape.
    static func versusText(_ shape: ShapeResult) -> String? {
        guard let versus = shape.versus else { return nil }
        return String(format: "vs rival %.2fx (IQR %.2f-%.2f)", versus, shape.versusLow ?? 0, shape.versusHigh ?? 0)
    }

    /// GB/s at the minimum bytes a call moves.
    static func gigabytesPerSecond(_ bytes: Double, seconds: Double?) -> Double? {
        guard let seconds, seconds > 0, bytes > 0 else { return nil }
        return bytes / seconds / 1e9
    }

    /// A shape's traffic and its fraction of the roofline bound (the lower of compute peak and bandwidth x
    /// arithmetic intensity), for the prompt's starting point.
    static func rooflineText(_ shape: ShapeResult) -> String? {
        shape.rooflineSummary
    }

    /// The fewest timed pairs whose interquartile range says something about noise.
    static let pairsForNoise = 4

    /// The IQR of each shape's per-pair speedup ratios relative to its median: how much two measurements
    /// of the same candidate can differ; over the shapes timed with at least ``pairsForNoise`` pairs.
    /// Nil when no shape was.
    static func noise(_ result: EvaluationResult) -> (low: Double, median: Double, high: Double)? {
        let spreads = result.shapes.compactMap { shape -> Double? in
            guard shape.pairs >= pairsForNoise, let speedup = shape.speedup, speedup > 0, let low = shape.speedupLow,
                let high = shape.speedupHigh
            else { return nil }
            return (high - low) / speedup
        }
        .sorted()
        guard let low = spreads.first, let high = spreads.last else { return nil }
        return (low, spreads[spreads.count / 2], high)
    }

    /// A percentage with one decimal under 10%, whole above.
    static func percent(_ fraction: Double) -> String {
        String(format: fraction < 0.1 ? "%.1f%%" : "%.0f%%", fraction * 100)
    }

    /// Fresh repeats of one candidate: each geometric mean, their median and spread, and each shape's
    /// speedups across the repeats.
    /// - Parameter results: the repeats' results, in order (all correct).
    /// - Returns: the lines.
    static func repeats(_ results: [EvaluationResult]) -> [String] {
        let geomeans = results.compactMap(\.geomeanSpeedup)
        let sorted = geomeans.sorted()
        guard let low = sorted.first, let high = sorted.last else { return [] }
        let median = sorted[sorted.count / 2]
        var lines = [
            "\(results.count) fresh evaluations: geometric means "
                + geomeans.map { String(format: "%.2fx", $0) }.joined(separator: ", ")
                + String(
                    format: "; median %.2fx, range %.2f-%.2fx (%.1f%% of the median)",
                    median,
                    low,
                    high,
                    median > 0 ? (high - low) / median * 100 : 0
                )
        ]
        for (index, shape) in (results.first?.shapes ?? []).enumerated() {
            let speedups = results.compactMap { $0.shapes.count > index ? $0.shapes[index].speedup : nil }
            lines.append("\(shape.name): " + speedups.map { String(format: "%.2fx", $0) }.joined(separator: ", "))
        }
        return lines
    }
}
