import Foundation
import KilnCore

/// Order statistics of a small sample of timings or ratios.
package struct TimingStatistics: Sendable, Hashable {
    /// The sorted sample.
    package let sorted: [Double]

    /// Creates statistics over a sample.
    /// - Parameter values: the sample; may be empty.
    package init(_ values: [Double]) {
        sorted = values.sorted()
    }

    /// The `q`-quantile (0...1) by linear interpolation; nil for an empty sample.
    /// - Parameter q: the quantile.
    /// - Returns: the value.
    package func quantile(_ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    /// The median.
    package var median: Double? { quantile(0.5) }

    /// The interquartile range over the median: 0.1 means the middle half lies within about ±5%.
    package var relativeSpread: Double? {
        guard let low = quantile(0.25), let high = quantile(0.75), let median, median > 0 else { return nil }
        return (high - low) / median
    }

    /// The geometric mean of positive values; nil when empty or any value is not positive.
    /// - Parameter values: the values.
    /// - Returns: the geometric mean.
    package static func geometricMean(_ values: [Double]) -> Double? {
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        return exp(values.map { log($0) }.reduce(0, +) / Double(values.count))
    }
}

/// The seeds of an evaluation's input sets. Each is drawn from the system's cryptographic generator
/// when its set is made, so no set can be predicted from another; a fixed seed (`--seed`, for
/// reproducing a run) makes them one deterministic, and so predictable, stream instead.
package struct InputSeeds: Sendable {
    private var stream: SeedGenerator?

    /// Creates the seeds.
    /// - Parameter seed: a fixed starting seed, or nil for independent unpredictable seeds.
    package init(fixed seed: UInt64?) {
        stream = seed.map { SeedGenerator(seed: $0) }
    }

    /// The next input set's seed.
    /// - Returns: it.
    package mutating func next() -> UInt64 {
        if var fixed = stream {
            let value = fixed.next()
            stream = fixed
            return value
        }
        var system = SystemRandomNumberGenerator()
        return system.next()
    }
}
