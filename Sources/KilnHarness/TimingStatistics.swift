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

/// Two sides' times over the same pairs of calls (a baseline and a candidate, or a rival and a candidate)
/// reduced to one ratio: each side's time is the lower decile of its calls, the time of a call nothing
/// disturbed.
///
/// Why the lower decile and not the median: what disturbs a call on a shared machine (another process or
/// virtual machine taking the core, a thread woken late, a busier memory system) only ever adds time, and
/// how often it strikes changes from minute to minute, so a median moves with the machine while the
/// fastest calls keep to what the kernel itself takes. Measured on a shared 2-vCPU VM with the guest idle
/// (the extend-attention seed on 2 threads, eleven evaluations of 15 pairs per shape): the geometric mean
/// over shapes varied 3.6% (coefficient of variation) under the median of per-pair ratios, 1.6% under this;
/// three evaluations apart, a median of 6.2% against 2.5%. With 5 pairs it was 5.5% against 3.8%: a decile
/// needs calls. The decile rather than the minimum: one lucky
/// call does not set it. Each call still runs on fresh inputs and is checked against the oracle, so a fast
/// call cannot be a call that skipped work.
///
/// The interval is a bootstrap over the pairs (pairs resampled whole, so what disturbed both sides of
/// one pair stays together), percentile, 95%, made symmetric in log space by its wider side, from a
/// generator seeded by the sample size so that the same times give the same interval. Odd and even calls
/// of one candidate compared as if they were two (the same data) were called different by this interval
/// in 10% of 144 cases, by the notch interval of the per-pair ratios' median in 25%.
package struct DecileRatio: Sendable, Hashable {
    /// The quantile each side's time is taken at.
    package static let quantile = 0.1
    /// Bootstrap resamples for the interval.
    package static let resamples = 400

    /// The numerator side's lower decile (the baseline's or the rival's time), seconds.
    package var numerator: Double
    /// The denominator side's lower decile (the candidate's time), seconds.
    package var denominator: Double
    /// Their 95% interval; nil with fewer than two pairs.
    package var interval: LogInterval?

    /// The ratio, numerator over denominator: above 1 when the candidate is faster.
    package var ratio: Double { numerator / denominator }

    /// Reduces paired times; nil when there is no pair or a time is not positive.
    /// - Parameters:
    ///   - numerators: one side's times, one per pair.
    ///   - denominators: the other side's, in the same pairs.
    package init?(_ numerators: [Double], over denominators: [Double]) {
        let count = min(numerators.count, denominators.count)
        let top = Array(numerators.prefix(count))
        let bottom = Array(denominators.prefix(count))
        guard count > 0, (top + bottom).allSatisfy({ $0 > 0 && $0.isFinite }),
            let numerator = TimingStatistics(top).quantile(Self.quantile),
            let denominator = TimingStatistics(bottom).quantile(Self.quantile)
        else { return nil }
        self.numerator = numerator
        self.denominator = denominator
        let center = log(numerator / denominator)
        guard count >= 2 else {
            interval = nil
            return
        }
        var generator = SeedGenerator(seed: 0x6b69_6c6e_0000_0000 | UInt64(count))
        var logs: [Double] = []
        logs.reserveCapacity(Self.resamples)
        var pickedTop = [Double](repeating: 0, count: count)
        var pickedBottom = [Double](repeating: 0, count: count)
        for _ in 0..<Self.resamples {
            for slot in 0..<count {
                let index = Int(generator.next() % UInt64(count))
                pickedTop[slot] = top[index]
                pickedBottom[slot] = bottom[index]
            }
            if let a = TimingStatistics(pickedTop).quantile(Self.quantile),
                let b = TimingStatistics(pickedBottom).quantile(Self.quantile)
            {
                logs.append(log(a / b))
            }
        }
        let spread = TimingStatistics(logs)
        guard let low = spread.quantile(0.025), let high = spread.quantile(0.975) else {
            interval = nil
            return
        }
        interval = LogInterval(center: center, halfWidth: max(center - low, high - center, 0))
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
