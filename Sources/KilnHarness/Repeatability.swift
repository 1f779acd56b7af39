import Foundation

/// How closely repeated evaluations of one candidate agreed, set beside two controls that say how far the
/// machine itself moved between them: the baseline's own times (the same fixed kernel every time) and
/// probe readings of the machine's FMA rate and memory bandwidth taken before each evaluation. A figure
/// cannot repeat more closely than the machine it is measured on; the controls tell the harness's noise
/// from the machine's (`kiln-bench eval`).
package struct Repeatability: Sendable {
    /// Each evaluation's geometric-mean speedup, in order.
    package var geomeans: [Double] = []
    /// The baseline's time per shape, one per evaluation.
    package var baselineSeconds: [String: [Double]] = [:]
    /// The machine as the probe read it before each evaluation (the best of its runs,
    /// ``ProbeRounds/profile(from:measuredAt:)``), when it was read.
    package var readings: [MachineProfile] = []
    /// How many evaluations Kiln judged busy.
    package var busyEvaluations = 0

    /// Creates an empty record.
    package init() {}

    /// Adds one evaluation.
    /// - Parameters:
    ///   - geomean: its geometric-mean speedup.
    ///   - baselineSeconds: the baseline's time per shape.
    ///   - wasBusy: whether Kiln judged the machine busy during it.
    ///   - reading: the probe's reading of the machine just before it, when one was taken.
    package mutating func add(
        geomean: Double,
        baselineSeconds: [String: Double],
        wasBusy: Bool,
        reading: MachineProfile?
    ) {
        geomeans.append(geomean)
        for (shape, seconds) in baselineSeconds where seconds > 0 {
            self.baselineSeconds[shape, default: []].append(seconds)
        }
        if wasBusy { busyEvaluations += 1 }
        if let reading { readings.append(reading) }
    }

    /// How far apart the largest and smallest of `values` are, as a fraction of the smallest; nil for
    /// fewer than two positive values.
    package static func spread(_ values: [Double]) -> Double? {
        guard values.count >= 2, let low = values.min(), let high = values.max(), low > 0 else { return nil }
        return high / low - 1
    }

    /// How far the geometric means moved.
    package var geomeanSpread: Double? { Self.spread(geomeans) }

    /// How far the baseline's own time moved per shape: the largest and the median over shapes that were
    /// timed in every evaluation.
    package var baselineMoves: (largest: Double, median: Double)? {
        let moves = baselineSeconds.values.filter { $0.count == geomeans.count }.compactMap(Self.spread).sorted()
        guard let largest = moves.last else { return nil }
        return (largest, moves[moves.count / 2])
    }

    /// How far the machine's own rates moved between the readings, when there is one per evaluation.
    package var machineMoves: (fmaAll: Double, bandwidth1: Double, bandwidthAll: Double)? {
        guard readings.count == geomeans.count,
            let fma = Self.spread(readings.map(\.peakGflopsAll)),
            let one = Self.spread(readings.map(\.bandwidthGbs1)),
            let all = Self.spread(readings.map(\.bandwidthGbsAll))
        else { return nil }
        return (fma, one, all)
    }

    /// The summary: the spread, the controls, and a verdict against `target` (for one evaluation, how to
    /// get more; for none, nothing).
    /// - Parameter target: the spread the geometric means should stay within (0.02 for 2%).
    /// - Returns: lines to print.
    package func summary(target: Double) -> [String] {
        guard let spread = geomeanSpread else {
            return geomeans.count == 1 ? ["one evaluation: pass --repeats 2 or more to see how far they repeat"] : []
        }
        var lines = [
            "geometric means differ by at most \(percent(spread)) over \(geomeans.count) evaluations; the machine was busy during \(busyEvaluations) of them"
        ]
        if let moves = baselineMoves {
            lines.append(
                "control: the baseline's own time per shape (the same fixed kernel each time) moved by up to \(percent(moves.largest)) between evaluations (median over shapes \(percent(moves.median))): that much is the machine"
            )
        }
        let machine = machineMoves
        if let machine {
            lines.append(
                "control: the probe before each evaluation read all-core FMA \(range(readings.map(\.peakGflopsAll), unit: "GFLOP/s")) (moved \(percent(machine.fmaAll))), memory bandwidth on one thread \(range(readings.map(\.bandwidthGbs1), unit: "GB/s")) (\(percent(machine.bandwidth1))) and on all \(range(readings.map(\.bandwidthGbsAll), unit: "GB/s")) (\(percent(machine.bandwidthAll)))"
            )
        }
        let within = "within \(percent(target, digits: 0))"
        if busyEvaluations > 0 {
            let busy = "Kiln judged the machine busy during \(busyEvaluations) of the evaluations (see each one's load)"
            lines.append(
                spread <= target
                    ? "verdict: repeats \(within) (\(percent(spread))), but not as a quiet-machine figure: \(busy)"
                    : "verdict: not \(within) (\(percent(spread))), and not a quiet-machine figure: \(busy)"
            )
        } else if spread <= target {
            lines.append("verdict: repeats \(within) (\(percent(spread)))")
        } else if let moved = machineMovement(beyond: target) {
            lines.append(
                "verdict: not \(within) (\(percent(spread))), and the machine itself was not steady: while Kiln saw no other load, \(moved) between evaluations. A figure cannot repeat more closely than the machine does; measure on a steadier machine to check \(within)"
            )
        } else if machine != nil || baselineMoves != nil {
            lines.append(
                "verdict: not \(within) (\(percent(spread))) although the controls read the machine steady to \(within): the spread is the harness's or the candidate's, not the machine's"
            )
        } else {
            lines.append("verdict: not \(within) (\(percent(spread))); no control was taken")
        }
        return lines
    }

    /// What moved more than `target` between evaluations by the controls, the largest first: the probe's
    /// rates (a spot check before each evaluation) or the baseline's own time (measured throughout, the
    /// median over shapes); nil when nothing did.
    private func machineMovement(beyond target: Double) -> String? {
        var moves: [(Double, String)] = []
        if let machine = machineMoves {
            let bandwidth = max(machine.bandwidth1, machine.bandwidthAll)
            moves.append((bandwidth, "its memory bandwidth moved \(percent(bandwidth))"))
            moves.append((machine.fmaAll, "its FMA rate moved \(percent(machine.fmaAll))"))
        }
        if let baseline = baselineMoves {
            moves.append(
                (baseline.median, "the baseline's own time moved \(percent(baseline.median)) (median over shapes)")
            )
        }
        return moves.filter { $0.0 > target }.max { $0.0 < $1.0 }?.1
    }

    private func percent(_ fraction: Double, digits: Int = 1) -> String {
        String(format: "%.\(digits)f%%", fraction * 100)
    }

    private func range(_ values: [Double], unit: String) -> String {
        String(format: "%.0f-%.0f ", values.min() ?? 0, values.max() ?? 0) + unit
    }
}
