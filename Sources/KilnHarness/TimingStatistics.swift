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

    /// An approximate 95% interval for the median of positive ratios, by the boxplot notch rule (McGill,
    /// Tukey and Larsen): median ± 1.58 · IQR / √n, taken in log space so that it stays positive and a
    /// ratio and its inverse get mirrored intervals. Nil for fewer than two values.
    package var medianInterval: LogInterval? {
        guard sorted.count >= 2, sorted.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        let logs = TimingStatistics(sorted.map { log($0) })
        guard let center = logs.median, let low = logs.quantile(0.25), let high = logs.quantile(0.75) else {
            return nil
        }
        return LogInterval(center: center, halfWidth: 1.58 * (high - low) / Double(sorted.count).squareRoot())
    }

    /// The geometric mean of positive values; nil when empty or any value is not positive.
    /// - Parameter values: the values.
    /// - Returns: the geometric mean.
    package static func geometricMean(_ values: [Double]) -> Double? {
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        return exp(values.map { log($0) }.reduce(0, +) / Double(values.count))
    }
}

/// An interval around a ratio, held in log space: `center` ± `halfWidth` of the ratio's logarithm.
package struct LogInterval: Sendable, Hashable, Codable {
    /// The logarithm of the ratio.
    package var center: Double
    /// Half the interval's width in log space.
    package var halfWidth: Double

    /// Creates an interval.
    /// - Parameters:
    ///   - center: the ratio's logarithm.
    ///   - halfWidth: half the width, in log space.
    package init(center: Double, halfWidth: Double) {
        self.center = center
        self.halfWidth = halfWidth
    }

    /// The ratio.
    package var value: Double { exp(center) }
    /// The interval's lower end.
    package var low: Double { exp(center - halfWidth) }
    /// The interval's upper end.
    package var high: Double { exp(center + halfWidth) }

    /// The interval of the geometric mean of the shapes' ratios: the mean of the centers, and the mean of
    /// the half-widths. The shapes of one evaluation are timed one after another on one machine, so what
    /// disturbs one (other processes, clock changes, a placement effect) tends to disturb the rest: their
    /// errors are not assumed to cancel, as independent errors would (√Σw² / k, narrower by √k). Identical
    /// candidates timed beside each other on a busy machine were called different at 95% under that
    /// assumption; under this one they are not.
    /// - Parameter intervals: one interval per shape.
    /// - Returns: the combined interval, or nil when there are none.
    package static func geometricMean(_ intervals: [LogInterval]) -> LogInterval? {
        guard !intervals.isEmpty else { return nil }
        let count = Double(intervals.count)
        let center = intervals.map(\.center).reduce(0, +) / count
        let width = intervals.map(\.halfWidth).reduce(0, +) / count
        return LogInterval(center: center, halfWidth: width)
    }

    /// Whether the ratio is above 1 (`better`), below (`worse`), or 1 lies within the interval (`same`).
    package var verdict: ComparisonVerdict {
        if center - halfWidth > 0 { return .better }
        if center + halfWidth < 0 { return .worse }
        return .same
    }
}

/// How a candidate compares with another measured beside it, in the same evaluation.
package enum ComparisonVerdict: String, Sendable, Hashable, Codable {
    /// Faster, beyond the noise measured.
    case better
    /// Within the noise measured: no difference can be claimed.
    case same
    /// Slower, beyond the noise measured.
    case worse
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
