package import Foundation

/// One run of the probe program: what it printed, and the load Kiln saw while it ran.
package struct ProbeReading: Codable, Sendable, Hashable {
    /// Peak fp32 FMA rate on one core, GFLOP/s.
    package var peakGflops1: Double
    /// Peak fp32 FMA rate on all cores, GFLOP/s.
    package var peakGflopsAll: Double
    /// The threads the all-core figures used.
    package var threads: Int
    /// STREAM triad bandwidth on one thread, GB/s.
    package var bandwidthGbs1: Double
    /// STREAM triad bandwidth on all threads, GB/s.
    package var bandwidthGbsAll: Double
    /// Level-1 data cache size in bytes (0 when unknown).
    package var l1dBytes: Int
    /// Level-2 cache size in bytes (0 when unknown).
    package var l2Bytes: Int
    /// Level-3 cache size in bytes (0 when unknown).
    package var l3Bytes: Int
    /// The processor's model name.
    package var cpuModel: String
    /// The widest vector instruction set the probe used.
    package var simd: String
    /// fp32 lanes of that instruction set (older probes did not print it).
    package var fp32Lanes: Int?
    /// The highest clock the probe saw, MHz (0 or nil when unknown).
    package var clockMhz: Double?
    /// Where that clock came from.
    package var clockSource: String?
    /// The load while it ran; set by Kiln, not printed by the probe.
    package var load: MachineLoad?

    /// Creates a reading from its figures (the probe prints one; tests write one from values).
    package init(
        peakGflops1: Double,
        peakGflopsAll: Double,
        threads: Int,
        bandwidthGbs1: Double,
        bandwidthGbsAll: Double,
        l1dBytes: Int = 0,
        l2Bytes: Int = 0,
        l3Bytes: Int = 0,
        cpuModel: String = "",
        simd: String = "avx2",
        fp32Lanes: Int? = nil,
        clockMhz: Double? = nil,
        clockSource: String? = nil,
        load: MachineLoad? = nil
    ) {
        self.peakGflops1 = peakGflops1
        self.peakGflopsAll = peakGflopsAll
        self.threads = threads
        self.bandwidthGbs1 = bandwidthGbs1
        self.bandwidthGbsAll = bandwidthGbsAll
        self.l1dBytes = l1dBytes
        self.l2Bytes = l2Bytes
        self.l3Bytes = l3Bytes
        self.cpuModel = cpuModel
        self.simd = simd
        self.fp32Lanes = fp32Lanes
        self.clockMhz = clockMhz
        self.clockSource = clockSource
        self.load = load
    }
}

/// How the probe's rounds are judged: run until the best two readings of every figure agree, keep the
/// best of each, and say why the result cannot be trusted when it cannot (the machine was busy, the
/// readings never settled, or they contradict each other).
package enum ProbeRounds {
    /// The fewest runs of the probe.
    package static let minimumRounds = 2
    /// The most runs of the probe.
    package static let maximumRounds = 5
    /// The best two peak readings agree when the second is within this fraction of the best.
    package static let peakAgreement = 0.03
    /// The best two bandwidth readings agree when the second is within this fraction of the best.
    package static let bandwidthAgreement = 0.05

    /// How far the second-best value is below the best, as a fraction of the best; nil with fewer than two.
    /// - Parameter values: the readings of one figure.
    /// - Returns: the gap.
    package static func gap(_ values: [Double]) -> Double? {
        let sorted = values.sorted(by: >)
        guard sorted.count >= 2, sorted[0] > 0 else { return nil }
        return (sorted[0] - sorted[1]) / sorted[0]
    }

    /// True once the best two readings of each peak agree within ``peakAgreement`` and of the all-thread
    /// bandwidth within ``bandwidthAgreement``, after at least ``minimumRounds``.
    /// - Parameter readings: the rounds so far.
    /// - Returns: whether to stop.
    package static func isSettled(_ readings: [ProbeReading]) -> Bool {
        guard readings.count >= minimumRounds else { return false }
        let peaks = [readings.map(\.peakGflops1), readings.map(\.peakGflopsAll)].map { gap($0) ?? 1 }
        let bandwidth = gap(readings.map(\.bandwidthGbsAll)) ?? 1
        return peaks.allSatisfy { $0 <= peakAgreement } && bandwidth <= bandwidthAgreement
    }

    /// The profile of some rounds: the best of each figure, the theoretical bound at the highest clock
    /// seen, the load over all rounds, and why it is suspect if it is.
    /// - Parameters:
    ///   - readings: the rounds, at least one.
    ///   - measuredAt: when.
    /// - Returns: the profile, or nil without readings.
    package static func profile(from readings: [ProbeReading], measuredAt: Date) -> MachineProfile? {
        guard let last = readings.last else { return nil }
        var profile = MachineProfile(
            peakGflops1: readings.map(\.peakGflops1).max() ?? 0,
            peakGflopsAll: readings.map(\.peakGflopsAll).max() ?? 0,
            threads: last.threads,
            bandwidthGbs1: readings.map(\.bandwidthGbs1).max() ?? 0,
            bandwidthGbsAll: readings.map(\.bandwidthGbsAll).max() ?? 0,
            l1dBytes: last.l1dBytes,
            l2Bytes: last.l2Bytes,
            l3Bytes: last.l3Bytes,
            cpuModel: last.cpuModel,
            simd: last.simd,
            measuredAt: measuredAt
        )
        let lanes = last.fp32Lanes ?? TheoreticalPeak.fp32Lanes(of: last.simd)
        profile.theoreticalPeak = theoreticalPeak(readings, threads: last.threads, fp32Lanes: lanes)
        profile.rounds = readings.count
        profile.load = MachineLoad.combining(readings.compactMap(\.load), scope: "while it ran")
        var reasons = contradictions(profile)
        if let load = profile.load, load.isBusy {
            reasons.append("the machine was busy while it ran (\(load.note.dropFirst("busy: ".count)))")
        }
        if !isSettled(readings) {
            reasons.append(
                "its readings did not settle in \(readings.count) rounds (the best two of each figure differ by more than \(Int(peakAgreement * 100))% for peaks, \(Int(bandwidthAgreement * 100))% for bandwidth)"
            )
        }
        profile.suspectReason = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
        return profile
    }

    /// The theoretical bound at the highest clock seen: the clock the machine reports (the probe's
    /// `clock_mhz`), or the clock the best one-core peak implies when that is higher (a virtual machine
    /// may report its base clock while its cores run faster; the one-core peak, measured, cannot be
    /// above the real clock's rate).
    /// - Parameters:
    ///   - readings: the rounds.
    ///   - threads: the threads counted.
    ///   - fp32Lanes: fp32 lanes per vector.
    /// - Returns: the bound, or nil when no clock is known and no peak was measured.
    package static func theoreticalPeak(_ readings: [ProbeReading], threads: Int, fp32Lanes: Int) -> TheoreticalPeak? {
        let reported = readings.filter { ($0.clockMhz ?? 0) > 0 }.max { ($0.clockMhz ?? 0) < ($1.clockMhz ?? 0) }
        let perCycle = Double(fp32Lanes * 2 * TheoreticalPeak.assumedFMAPipes)
        let implied = (readings.map(\.peakGflops1).max() ?? 0) / perCycle * 1000
        let reportedMegahertz = reported?.clockMhz ?? 0
        guard max(implied, reportedMegahertz) > 0 else { return nil }
        if implied > reportedMegahertz {
            return TheoreticalPeak(
                threads: threads,
                fp32Lanes: fp32Lanes,
                clockMegahertz: implied,
                clockSource: reportedMegahertz > 0
                    ? String(format: "implied by the one-core peak; %.0f MHz reported", reportedMegahertz)
                    : "implied by the one-core peak"
            )
        }
        return TheoreticalPeak(
            threads: threads,
            fp32Lanes: fp32Lanes,
            clockMegahertz: reportedMegahertz,
            clockSource: reported?.clockSource ?? "unknown"
        )
    }

    /// What in a profile's figures cannot be true of a quiet machine: all cores slower than one.
    /// - Parameter profile: the figures.
    /// - Returns: the contradictions, in words.
    package static func contradictions(_ profile: MachineProfile) -> [String] {
        guard profile.threads > 1 else { return [] }
        var reasons: [String] = []
        if profile.peakGflopsAll < profile.peakGflops1 {
            reasons.append(
                String(
                    format: "the all-core peak (%.1f GFLOP/s) is below the one-core peak (%.1f)",
                    profile.peakGflopsAll,
                    profile.peakGflops1
                )
            )
        }
        if profile.bandwidthGbsAll < profile.bandwidthGbs1 {
            reasons.append(
                String(
                    format: "the all-thread bandwidth (%.1f GB/s) is below the one-thread bandwidth (%.1f)",
                    profile.bandwidthGbsAll,
                    profile.bandwidthGbs1
                )
            )
        }
        return reasons
    }
}

extension MachineProfile {
    /// A fresh profile merged into the cached one of the same machine: no figure is ever lowered by a
    /// later reading (a busy machine reads low, never high), the theoretical bound keeps the highest
    /// clock seen, and the result is suspect only when both were (a best-of over readings one of which
    /// was trusted is not under-read) or its figures contradict each other.
    /// - Parameters:
    ///   - cached: the profile measured before.
    ///   - fresh: the one measured now.
    /// - Returns: the merged profile; `fresh` itself when the machines differ.
    package static func merged(cached: MachineProfile, fresh: MachineProfile) -> MachineProfile {
        guard cached.fingerprint == fresh.fingerprint else { return fresh }
        var merged = fresh
        merged.peakGflops1 = max(cached.peakGflops1, fresh.peakGflops1)
        merged.peakGflopsAll = max(cached.peakGflopsAll, fresh.peakGflopsAll)
        merged.bandwidthGbs1 = max(cached.bandwidthGbs1, fresh.bandwidthGbs1)
        merged.bandwidthGbsAll = max(cached.bandwidthGbsAll, fresh.bandwidthGbsAll)
        if let old = cached.theoreticalPeak, old.gflops > (fresh.theoreticalPeak?.gflops ?? 0) {
            merged.theoreticalPeak = old
        }
        merged.rounds = (cached.rounds ?? 0) + (fresh.rounds ?? 0)
        // A profile from before profiles were judged (no rounds) counts as suspect.
        let wasTrusted = cached.rounds != nil && !cached.isSuspect
        let reasons = ProbeRounds.contradictions(merged)
        if !reasons.isEmpty {
            merged.suspectReason = reasons.joined(separator: "; ")
        } else if wasTrusted || !fresh.isSuspect {
            merged.suspectReason = nil
        }
        return merged
    }
}
