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

    /// A short identity of the machine: model and core count. Results from another machine never match.
    package var fingerprint: String { "\(cpuModel)|\(threads)|\(simd)" }
}
