import Foundation

/// The machine profile one evaluation judges its times against. When a time looks too fast for it
/// (impossible, or over 100% of the peak), the machine is measured again, bypassing the cache, at most
/// once per evaluation, before anything is concluded: a profile measured on a busy machine reads low.
actor MachinePeaks {
    /// The profile as it stands (the fresh one once re-measured).
    private(set) var profile: MachineProfile
    /// True once the machine was measured again during this evaluation.
    private(set) var wasRemeasured = false
    private let probe: MachineProbe

    init(profile: MachineProfile, probe: MachineProbe) {
        self.profile = profile
        self.probe = probe
    }

    /// Measures the machine again (once per evaluation; later calls return the profile as it is).
    /// The fresh reading is merged into the cached one, so no figure goes down.
    /// - Returns: the profile after re-measuring.
    /// - Throws: ``HarnessError`` when the probe fails.
    func remeasure() async throws(HarnessError) -> MachineProfile {
        guard !wasRemeasured else { return profile }
        wasRemeasured = true
        profile = MachineProfile.merged(cached: profile, fresh: try await probe.measure())
        return profile
    }
}

/// When a candidate's rate is too fast to be true on this machine.
enum SpeedCheck {
    /// A rate this far above the machine's limit is impossible (timer jitter and the rate's rounding
    /// stay far below it).
    static let margin = 1.1

    /// Why `gflops` is impossible on `machine`, in one line that says it is a timing rejection; nil when
    /// it is possible.
    /// - Parameters:
    ///   - gflops: the candidate's rate.
    ///   - machine: the profile.
    ///   - wasRemeasured: whether the profile was measured again just now, for the message.
    /// - Returns: the reason, or nil.
    static func impossibility(gflops: Double, machine: MachineProfile, wasRemeasured: Bool) -> String? {
        let limit = machine.speedLimitGflops
        guard limit > 0, gflops > limit * margin else { return nil }
        let theoretical = machine.theoreticalPeak.map { ", and the theoretical \($0.summary)" } ?? ""
        return String(
            format:
                "timing rejected (impossible speed): %.1f GFLOP/s is more than %.0f%% above this machine's limit of %.1f GFLOP/s",
            gflops,
            (margin - 1) * 100,
            limit
        )
            + String(format: " (the larger of the measured all-core peak, %.1f GFLOP/s", machine.peakGflopsAll)
            + (wasRemeasured ? " measured again just now" : "")
            + theoretical
            + "); the candidate skipped work or its timing was tampered with"
    }
}
