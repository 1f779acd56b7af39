import Foundation

/// The fp32 FMA rate no code can beat on this machine, from its description rather than a measurement,
/// so that load cannot under-read it: threads x fp32 SIMD lanes x 2 (an FMA is two operations) x FMA
/// pipes per core x the highest clock seen (the reported one, or the one the measured one-core peak
/// implies when that is higher: ``ProbeRounds/theoreticalPeak(_:threads:fp32Lanes:)``). It overstates
/// most machines (threads sharing a core's pipes, 512-bit FMAs split in two, clocks that sag under
/// load), which is what a bound for rejecting times should do. Lanes are fp32 lanes because the probe's
/// peak is fp32 (a double kernel's bound is lower).
package struct TheoreticalPeak: Codable, Sendable, Hashable {
    /// FMA pipes assumed per core: two on every x86 core since Haswell and on recent Arm cores; the
    /// largest common count, so the bound is not under-read.
    package static let assumedFMAPipes = 2

    /// The bound, GFLOP/s.
    package var gflops: Double
    /// The threads counted (the probe's, every logical CPU).
    package var threads: Int
    /// fp32 lanes of the widest vector the probe used.
    package var fp32Lanes: Int
    /// FMA pipes per core assumed.
    package var fmaPipes: Int
    /// The highest clock seen, MHz.
    package var clockMegahertz: Double
    /// Where that clock came from, such as "cpufreq cpuinfo_max_freq" or "/proc/cpuinfo cpu MHz".
    package var clockSource: String

    /// The bound from its factors.
    /// - Parameters:
    ///   - threads: the threads counted.
    ///   - fp32Lanes: fp32 lanes per vector.
    ///   - clockMegahertz: the highest clock seen.
    ///   - clockSource: where it came from.
    ///   - fmaPipes: FMA pipes per core.
    package init(
        threads: Int,
        fp32Lanes: Int,
        clockMegahertz: Double,
        clockSource: String,
        fmaPipes: Int = TheoreticalPeak.assumedFMAPipes
    ) {
        self.threads = threads
        self.fp32Lanes = fp32Lanes
        self.fmaPipes = fmaPipes
        self.clockMegahertz = clockMegahertz
        self.clockSource = clockSource
        gflops = Double(threads * fp32Lanes * 2 * fmaPipes) * clockMegahertz / 1000
    }

    /// fp32 lanes of a vector instruction set the probe names (`avx512`, `avx2`, `sse`, `scalar`).
    /// - Parameter simd: the name.
    /// - Returns: the lanes (1 for names it does not know).
    package static func fp32Lanes(of simd: String) -> Int {
        switch simd {
        case "avx512": 16
        case "avx2", "avx": 8
        case "sse", "neon": 4
        default: 1
        }
    }

    /// One line: "332 GFLOP/s = 2 threads x 16 fp32 lanes x 2 (FMA) x 2 pipes x 2596 MHz (/proc/cpuinfo cpu MHz)".
    package var summary: String {
        String(
            format: "%.0f GFLOP/s = %d threads x %d fp32 lanes x 2 (FMA) x %d pipes x %.0f MHz",
            gflops,
            threads,
            fp32Lanes,
            fmaPipes,
            clockMegahertz
        ) + " (\(clockSource))"
    }
}
