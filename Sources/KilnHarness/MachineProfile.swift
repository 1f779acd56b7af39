package import Foundation

/// What the machine probe measured: the figures speedups and fractions of peak are judged against.
package struct MachineProfile: Codable, Sendable, Hashable {
    /// Peak fp32 FMA rate on one core, GFLOP/s.
    package var peakGflops1: Double
    /// Peak fp32 FMA rate on all cores, GFLOP/s.
    package var peakGflopsAll: Double
    /// The number of threads the all-core figures used.
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
    /// When the probe ran.
    package var measuredAt: Date?
    /// The fp32 FMA rate no run on this machine can beat (threads x lanes x 2 x FMA pipes x the highest
    /// clock seen, reported or implied by the one-core peak), and what it was computed from; nil in
    /// profiles written before it existed.
    package var theoreticalPeak: TheoreticalPeak? = nil
    /// The load the probe saw while it measured (over all its rounds).
    package var load: MachineLoad? = nil
    /// How many times the probe has run for these figures, over every measurement merged into them; each
    /// figure is the best of those runs.
    package var rounds: Int? = nil
    /// Why these figures cannot be trusted (a busy machine, readings that never settled, all cores slower
    /// than one); nil when they can. A suspect profile is measured again, and never lowered.
    package var suspectReason: String? = nil

    /// A short identity of the machine: model and core count. Results from another machine never match.
    /// Only identity goes in it, never a measured figure: results are cached under it.
    package var fingerprint: String { "\(cpuModel)|\(threads)|\(simd)" }

    /// True when the figures may be under-read (see ``suspectReason``).
    package var isSuspect: Bool { suspectReason != nil }

    /// The rate above which a time is impossible: the larger of the measured all-core peak and the
    /// theoretical one, either of which may be missing (0). Neither can be under-read at once: a busy
    /// machine lowers the measured peak, never the theoretical one.
    package var speedLimitGflops: Double { max(peakGflopsAll, theoreticalPeak?.gflops ?? 0) }

    /// The peak fractions are taken of: the measured all-core peak, or, while it is suspect (perhaps
    /// under-read), the larger of it and the theoretical one, so no correct candidate reads over 100%
    /// because the probe was under-read.
    package var referencePeakGflops: Double { isSuspect ? speedLimitGflops : peakGflopsAll }

    /// The bandwidth rooflines are drawn with: the better of the one- and all-thread triads.
    package var referenceBandwidthGbs: Double { max(bandwidthGbsAll, bandwidthGbs1) }

    /// Creates a profile from its figures (the probe decodes one; tests write one from values).
    /// - Parameters:
    ///   - peakGflops1: peak fp32 FMA rate on one core, GFLOP/s.
    ///   - peakGflopsAll: peak fp32 FMA rate on all cores, GFLOP/s.
    ///   - threads: the threads the all-core figures used.
    ///   - bandwidthGbs1: STREAM triad bandwidth on one thread, GB/s.
    ///   - bandwidthGbsAll: STREAM triad bandwidth on all threads, GB/s.
    ///   - l1dBytes: the level-1 data cache's size (0 when unknown).
    ///   - l2Bytes: the level-2 cache's size (0 when unknown).
    ///   - l3Bytes: the level-3 cache's size (0 when unknown).
    ///   - cpuModel: the processor's model name.
    ///   - simd: the widest vector instruction set the probe used.
    ///   - measuredAt: when the probe ran.
    package init(
        peakGflops1: Double,
        peakGflopsAll: Double,
        threads: Int,
        bandwidthGbs1: Double,
        bandwidthGbsAll: Double,
        l1dBytes: Int,
        l2Bytes: Int,
        l3Bytes: Int,
        cpuModel: String,
        simd: String,
        measuredAt: Date? = nil
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
        self.measuredAt = measuredAt
    }
}
