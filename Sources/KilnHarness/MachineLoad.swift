import Foundation

/// How busy the machine was while Kiln measured something (a shape, an evaluation, the probe), and
/// whether that makes the figures suspect: a model, the tuner and the leaderboard read this to tell
/// "faster" from "the machine got quieter".
///
/// The CPU figures come from ``LoadMeter`` (the kernel's `/proc/stat` over the interval, less Kiln's
/// own CPU time); the baseline's drift from ``BaselineHistory`` (its median now over its recent medians).
package struct MachineLoad: Codable, Sendable, Hashable {
    /// How the baseline's median compares with its recent medians on the same task, shape and machine.
    package struct BaselineDrift: Codable, Sendable, Hashable {
        /// The shape it was measured on.
        package var shape: String
        /// The baseline's median time per call now, seconds.
        package var seconds: Double
        /// The median of its recent medians (earlier evaluations), seconds.
        package var recentMedianSeconds: Double
        /// How many recent medians that is over.
        package var recentCount: Int

        /// This median over the recent one: 1.25 means the baseline took 25% longer than usual.
        package var ratio: Double { recentMedianSeconds > 0 ? seconds / recentMedianSeconds : 1 }

        /// Creates a drift.
        /// - Parameters:
        ///   - shape: the shape.
        ///   - seconds: the baseline's median now.
        ///   - recentMedianSeconds: the median of its recent medians.
        ///   - recentCount: how many recent medians.
        package init(shape: String, seconds: Double, recentMedianSeconds: Double, recentCount: Int) {
            self.shape = shape
            self.seconds = seconds
            self.recentMedianSeconds = recentMedianSeconds
            self.recentCount = recentCount
        }
    }

    /// Other processes keeping this many cores busy on average make the machine busy.
    package static let busyOtherCores = 0.25
    /// The hypervisor taking this many cores on average (steal time) makes the machine busy.
    package static let busyStealCores = 0.1
    /// A baseline taking this much longer than its recent median (1.15: 15%) makes the machine busy.
    package static let busyDrift = 1.15

    /// The wall time observed, seconds.
    package var seconds: Double
    /// The CPUs the kernel accounts for in `/proc/stat`.
    package var cores: Int
    /// The cores other processes kept busy on average (their CPU time over the wall time); nil when
    /// `/proc/stat` could not be read.
    package var otherCores: Double?
    /// The cores the hypervisor took on average (steal time); nil where the kernel reports none.
    package var stealCores: Double?
    /// The baseline's drift from its recent median; nil when not timed or without enough history.
    package var baseline: BaselineDrift?
    /// The judgement: true when other processes, steal time or the baseline's drift say the figures
    /// were measured on a busy machine.
    package var isBusy: Bool
    /// One line saying so, such as "busy: other processes used 0.90 of 2 cores during this evaluation;
    /// baseline took 56% longer than its recent median on 'prefill' (800 ms → 1.25 s)".
    package var note: String

    /// Creates a load and judges it.
    /// - Parameters:
    ///   - seconds: the wall time observed.
    ///   - cores: the CPUs the kernel accounts for.
    ///   - otherCores: the cores other processes kept busy on average, when known.
    ///   - stealCores: the cores the hypervisor took on average, when known.
    ///   - baseline: the baseline's drift, when known.
    ///   - scope: what was observed, for the note: "during this evaluation", "while it ran".
    package init(
        seconds: Double,
        cores: Int,
        otherCores: Double?,
        stealCores: Double?,
        baseline: BaselineDrift? = nil,
        scope: String
    ) {
        self.seconds = seconds
        self.cores = cores
        self.otherCores = otherCores.map { max($0, 0) }
        self.stealCores = stealCores.map { max($0, 0) }
        self.baseline = baseline
        (isBusy, note) = Self.judge(
            cores: cores,
            otherCores: self.otherCores,
            stealCores: self.stealCores,
            baseline: baseline,
            scope: scope
        )
    }

    /// The load over several intervals (an evaluation's shapes): CPU figures weighted by their wall
    /// time, and the baseline drift of the shape that drifted most.
    /// - Parameters:
    ///   - loads: the intervals' loads.
    ///   - scope: what the whole was, for the note.
    /// - Returns: the combined load, or nil when there is none.
    package static func combining(_ loads: [MachineLoad], scope: String) -> MachineLoad? {
        guard let first = loads.first else { return nil }
        func weighted(_ value: KeyPath<MachineLoad, Double?>) -> Double? {
            let known = loads.filter { $0[keyPath: value] != nil }
            let seconds = known.map(\.seconds).reduce(0, +)
            guard !known.isEmpty, seconds > 0 else { return nil }
            return known.map { ($0[keyPath: value] ?? 0) * $0.seconds }.reduce(0, +) / seconds
        }
        let drifts = loads.compactMap(\.baseline)
        let worst = drifts.max { abs(log($0.ratio)) < abs(log($1.ratio)) }
        return MachineLoad(
            seconds: loads.map(\.seconds).reduce(0, +),
            cores: first.cores,
            otherCores: weighted(\.otherCores),
            stealCores: weighted(\.stealCores),
            baseline: worst,
            scope: scope
        )
    }

    private static func judge(
        cores: Int,
        otherCores: Double?,
        stealCores: Double?,
        baseline: BaselineDrift?,
        scope: String
    ) -> (Bool, String) {
        var isBusy = false
        var parts: [String] = []
        if let otherCores {
            isBusy = isBusy || otherCores >= busyOtherCores
            parts.append(String(format: "other processes used %.2f of %d cores ", otherCores, cores) + scope)
        } else {
            parts.append("other processes' CPU time is unknown (no /proc/stat)")
        }
        if let stealCores, stealCores >= 0.01 {
            isBusy = isBusy || stealCores >= busyStealCores
            parts.append(String(format: "the hypervisor took %.2f of %d cores (steal time)", stealCores, cores))
        }
        if let baseline {
            let ratio = baseline.ratio
            let times = "(\(duration(baseline.recentMedianSeconds)) → \(duration(baseline.seconds)))"
            if ratio >= busyDrift {
                isBusy = true
            }
            if abs(ratio - 1) <= 0.03 {
                parts.append("baseline within 3% of its recent median on '\(baseline.shape)'")
            } else if ratio > 1 {
                parts.append(
                    String(format: "baseline took %.0f%% longer than its recent median", (ratio - 1) * 100)
                        + " on '\(baseline.shape)' \(times)"
                )
            } else {
                parts.append(
                    String(format: "baseline took %.0f%% less time than its recent median", (1 - ratio) * 100)
                        + " on '\(baseline.shape)' \(times): the machine may have been busier before"
                )
            }
        }
        return (isBusy, (isBusy ? "busy: " : "quiet: ") + parts.joined(separator: "; "))
    }

    /// A time in seconds as "1.25 s", "800 ms" or "450 us", to three figures.
    static func duration(_ seconds: Double) -> String {
        if seconds >= 1 { return String(format: "%.3g s", seconds) }
        if seconds >= 1e-3 { return String(format: "%.3g ms", seconds * 1e3) }
        return String(format: "%.3g us", seconds * 1e6)
    }
}
