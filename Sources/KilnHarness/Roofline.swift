import Foundation

/// The roofline of a machine: what a kernel of a given arithmetic intensity (operations per byte it
/// must move) can reach at best, the lower of the compute peak and bandwidth x intensity. For a
/// memory- or gather-bound shape (decode-like attention, a normalisation) "% of FMA peak" is the wrong
/// yardstick; "% of roofline" is the same yardstick for every shape.
package struct Roofline: Sendable, Hashable {
    /// The compute peak, GFLOP/s (the profile's reference all-core peak: never under-read).
    package var peakGflops: Double
    /// The memory bandwidth, GB/s (the profile's best triad).
    package var bandwidthGbs: Double

    /// The machine's roofline.
    /// - Parameter machine: the profile.
    package init(_ machine: MachineProfile) {
        peakGflops = machine.referencePeakGflops
        bandwidthGbs = machine.referenceBandwidthGbs
    }

    /// A GPU's roofline: its dense tensor-core rate (the most a kernel using `tl.dot` can approach) and
    /// its copy bandwidth, as the device probe measured them.
    /// - Parameter peaks: the device's peaks.
    package init(_ peaks: DevicePeaks) {
        peakGflops = max(peaks.tensorGflops, peaks.fp32Gflops)
        bandwidthGbs = peaks.bandwidthGbs
    }

    /// The bound at an intensity, GFLOP/s.
    /// - Parameter intensity: operations per byte.
    /// - Returns: min(peak, bandwidth x intensity).
    package func bound(intensity: Double) -> Double {
        min(peakGflops, bandwidthGbs * intensity)
    }

    /// True when bandwidth, not compute, bounds a kernel of this intensity.
    /// - Parameter intensity: operations per byte.
    /// - Returns: whether it is memory-bound.
    package func isMemoryBound(intensity: Double) -> Bool {
        bandwidthGbs * intensity < peakGflops
    }
}

extension ShapeResult {
    /// Fills in the figures that depend on the machine (fraction of peak, GB/s, intensity, roofline)
    /// from the candidate's median time and the task's declared flops and bytes.
    /// - Parameter machine: the profile to judge against.
    package mutating func applyMachine(_ machine: MachineProfile) {
        applyRoofline(Roofline(machine))
    }

    /// Fills in the rate, traffic, fraction of peak and roofline figures against a roofline.
    /// - Parameter roofline: the device's roofline.
    package mutating func applyRoofline(_ roofline: Roofline) {
        guard let seconds = candidateSeconds, seconds > 0 else { return }
        let gflops = flops > 0 ? flops / seconds / 1e9 : nil
        let gbs = bytes > 0 ? bytes / seconds / 1e9 : nil
        self.gflops = gflops
        achievedGbs = gbs
        fractionOfPeak = gflops.flatMap { roofline.peakGflops > 0 ? $0 / roofline.peakGflops : nil }
        if flops > 0, bytes > 0 {
            let intensity = flops / bytes
            arithmeticIntensity = intensity
            let bound = roofline.bound(intensity: intensity)
            rooflineGflops = bound
            isMemoryBound = roofline.isMemoryBound(intensity: intensity)
            fractionOfRoofline = bound > 0 ? (gflops ?? 0) / bound : nil
        } else if let gbs, roofline.bandwidthGbs > 0 {
            // No arithmetic to speak of: a pure data movement, bounded by bandwidth alone.
            arithmeticIntensity = 0
            isMemoryBound = true
            fractionOfRoofline = gbs / roofline.bandwidthGbs
        }
    }

    /// The roofline figures in a few words: "12.3 GB/s, 45% of roofline (memory-bound)"; nil before the
    /// shape was timed or when the task declares no bytes.
    package var rooflineSummary: String? {
        guard let gbs = achievedGbs else { return nil }
        var text = String(format: "%.1f GB/s", gbs)
        if let fraction = fractionOfRoofline {
            text += String(format: ", %.0f%% of roofline", fraction * 100)
            if let isMemoryBound { text += isMemoryBound ? " (memory-bound)" : " (compute-bound)" }
        }
        return text
    }

    /// What follows a timed shape's figures in a tool result: its roofline figures and a warning when its
    /// ratios spread widely, as ", 12.3 GB/s, 45% of roofline (memory-bound), NOISY (IQR 74% of the speedup)".
    package var measurementSuffix: String {
        var text = rooflineSummary.map { ", \($0)" } ?? ""
        if isNoisy {
            let spread = speedupLow.flatMap { low in
                speedupHigh.map { high in (high - low) / max(speedup ?? 1, 1e-12) }
            }
            text += spread.map { String(format: ", NOISY (IQR %.0f%% of the speedup)", $0 * 100) } ?? ", NOISY"
        }
        return text
    }

    /// How a failed shape is labelled: "WRONG" for a wrong result (or a shape from before verdicts were
    /// kept per shape), else "FAILED (verdict)": a timing rejection is never called a wrong result.
    package var failureLabel: String {
        guard let verdict, verdict != .wrongResult else { return "WRONG" }
        return "FAILED (\(verdict.rawValue))"
    }
}
