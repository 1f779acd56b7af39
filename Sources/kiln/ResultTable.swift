import Foundation
import KilnHarness
import KilnTask

/// The human-readable form of an evaluation.
enum ResultTable {
    static func render(_ result: EvaluationResult, task: KernelTask) -> String {
        var lines: [String] = []
        let machine = result.machine
        lines.append("task \(result.task) · candidate \(result.candidate)\(result.isCached ? " (cached result)" : "")")
        if !result.isSandboxed {
            lines.append(
                "UNSANDBOXED: this candidate ran without Kiln's sandbox (--unsafe-no-sandbox); its figures could have been forged"
            )
        }
        switch task.backend {
        case .c:
            lines.append("build: \(task.build.compiler) \(result.flags.joined(separator: " "))")
            lines.append(
                "baseline: \(task.baseline) built with \(task.build.compiler) \(task.build.baselineFlags.joined(separator: " ")) (fixed by the task)"
            )
            lines.append(
                "machine: \(machine.cpuModel.isEmpty ? "unknown CPU" : machine.cpuModel) · measured peak "
                    + "\(fixed(machine.peakGflopsAll, 0)) GFLOP/s on \(machine.threads) threads, "
                    + "\(fixed(machine.peakGflops1, 0)) on one · triad \(fixed(machine.bandwidthGbsAll, 1)) GB/s"
                    + (machine.theoreticalPeak.map { " · bound \(fixed($0.gflops, 0)) GFLOP/s in theory" } ?? "")
            )
            if let reason = machine.suspectReason {
                lines.append(
                    "machine profile SUSPECT (\(reason)); fractions are of \(fixed(machine.referencePeakGflops, 0)) GFLOP/s"
                )
            }
        case .triton:
            let tunables = result.configuration.label.replacingOccurrences(of: " flags#0", with: "")
                .replacingOccurrences(of: "flags#0", with: "")
            lines.append("backend: triton · tunables: \(tunables.isEmpty ? "none" : tunables)")
            lines.append("baseline: \(task.baseline) (fixed by the task)")
            lines.append("device: \(result.device ?? "unknown")")
        }
        if let reason = result.timingUnavailable { lines.append("timing: \(reason)") }
        lines.append("")
        var header = [
            "shape", "correct", "max abs err", "baseline", "candidate", "speedup", "IQR", "GFLOP/s", "of peak", "GB/s",
            "of roofline", "cores",
        ]
        let comparing = result.shapes.contains { $0.versus != nil }
        if comparing { header += ["vs rival", "its IQR"] }
        var rows: [[String]] = []
        for shape in result.shapes {
            let verdict: String =
                switch shape.correct {
                case .some(true): "yes"
                case .some(false): "NO"
                case .none: "-"
                }
            var row: [String] = [
                shape.name, verdict, shape.maxAbsError.map(scientific) ?? "-",
                shape.baselineSeconds.map(duration) ?? "-",
                shape.candidateSeconds.map(duration) ?? "-", shape.speedup.map { fixed($0, 2) + "x" } ?? "-",
                shape.speedupLow.flatMap { low in shape.speedupHigh.map { "\(fixed(low, 2))-\(fixed($0, 2))" } } ?? "-",
                shape.gflops.map { fixed($0, 1) } ?? "-", shape.fractionOfPeak.map { fixed($0 * 100, 1) + "%" } ?? "-",
                shape.achievedGbs.map { fixed($0, 1) } ?? "-",
                shape.fractionOfRoofline.map { fixed($0 * 100, 0) + "%" + (shape.isMemoryBound == true ? " mem" : "") }
                    ?? "-",
                shape.coresUsed.map { fixed($0, 1) } ?? "-",
            ]
            if comparing { row += versusCells(shape) }
            rows.append(row)
        }
        lines.append(contentsOf: table(header: header, rows: rows))
        for shape in result.shapes {
            if let failure = shape.failure { lines.append("  \(shape.name): \(failure)") }
            for note in shape.notes { lines.append("  \(shape.name): \(note)") }
            if let load = shape.load, load.isBusy { lines.append("  \(shape.name): \(load.note)") }
        }
        lines.append("")
        if result.correct {
            if let geomean = result.geomeanSpeedup {
                let interval =
                    result.speedupInterval.map { " (95% interval \(fixed($0.low, 2))-\(fixed($0.high, 2)))" } ?? ""
                lines.append(
                    "correct on all \(result.shapes.count) shapes · geometric-mean speedup \(fixed(geomean, 2))x\(interval) over the baseline"
                )
                if let comparison = result.comparison {
                    lines.append("\(comparison.summary), over \(comparison.shapes) shapes timed in the same pairs")
                }
                let pairs = result.shapes.map(\.pairs)
                lines.append(
                    "timing: \(pairs.min() ?? 0)-\(pairs.max() ?? 0) interleaved baseline/candidate pairs per shape, each on fresh inputs checked against the oracle; times are each side's lower decile, IQR that of the per-pair ratios"
                )
            } else if result.timingUnavailable != nil {
                lines.append("correct on all \(result.shapes.count) shapes (correctness only: nothing was timed)")
            } else {
                lines.append("correct on all \(result.shapes.count) shapes (not timed)")
            }
        } else {
            lines.append("FAILED (\(result.verdict.rawValue)): \(result.failure ?? "unknown reason")")
            if result.verdict == .buildFailed, !result.buildLog.isEmpty {
                lines.append("")
                lines.append(String(result.buildLog.split(separator: "\n").prefix(15).joined(separator: "\n")))
            }
        }
        if let load = result.load {
            lines.append("load\(result.isCached ? " (when it was measured)" : ""): \(load.note)")
        }
        lines.append("evaluated in \(fixed(result.wallSeconds, 1)) s · result \(result.contentHash.prefix(12))")
        return lines.joined(separator: "\n")
    }

    /// The comparison with a rival: its ratio and the quartiles of the per-pair ratios.
    static func versusCells(_ shape: ShapeResult) -> [String] {
        let ratio = shape.versus.map { fixed($0, 2) + "x" } ?? "-"
        guard let low = shape.versusLow, let high = shape.versusHigh else { return [ratio, "-"] }
        return [ratio, "\(fixed(low, 2))-\(fixed(high, 2))"]
    }

    static func table(header: [String], rows: [[String]]) -> [String] {
        let widths = header.indices.map { column in
            ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == 0
                    ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }
        return [line(header)] + rows.map(line)
    }

    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
    static func scientific(_ value: Double) -> String { value.isFinite ? String(format: "%.1e", value) : "inf" }
    static func duration(_ seconds: Double) -> String {
        if seconds >= 1 { return String(format: "%.2f s", seconds) }
        if seconds >= 1e-3 { return String(format: "%.2f ms", seconds * 1e3) }
        return String(format: "%.1f us", seconds * 1e6)
    }
}
