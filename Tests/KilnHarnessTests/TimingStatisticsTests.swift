import Foundation
import KilnCore
import KilnHarness
import Testing

@Suite struct TimingStatisticsTests {
    @Test("quantiles interpolate between order statistics")
    func quantiles() {
        let stats = TimingStatistics([4, 1, 3, 2])
        #expect(stats.median == 2.5)
        #expect(stats.quantile(0) == 1)
        #expect(stats.quantile(1) == 4)
        #expect(stats.quantile(0.25) == 1.75)
        #expect(TimingStatistics([]).median == nil)
    }

    @Test("relative spread is the interquartile range over the median")
    func spread() throws {
        let spread = try #require(TimingStatistics([10, 10, 10, 10]).relativeSpread)
        #expect(spread == 0)
        let wide = try #require(TimingStatistics([1, 2, 3, 4, 5]).relativeSpread)
        #expect(abs(wide - 2.0 / 3.0) < 1e-12)
    }

    @Test("the geometric mean refuses non-positive values")
    func geometricMean() throws {
        let mean = try #require(TimingStatistics.geometricMean([2, 8]))
        #expect(abs(mean - 4) < 1e-12)
        #expect(TimingStatistics.geometricMean([]) == nil)
        #expect(TimingStatistics.geometricMean([1, 0]) == nil)
    }

    @Test("seed generators are deterministic for a seed")
    func seeds() {
        var a = SeedGenerator(seed: 7)
        var b = SeedGenerator(seed: 7)
        var c = SeedGenerator(seed: 8)
        let first = (0..<4).map { _ in a.next() }
        #expect(first == (0..<4).map { _ in b.next() })
        #expect(first != (0..<4).map { _ in c.next() })
    }

    @Test("the median's interval follows the notch rule in log space, and decides better, same or worse")
    func medianInterval() throws {
        let tight = try #require(TimingStatistics([1.10, 1.11, 1.12, 1.09, 1.10, 1.11, 1.10]).medianInterval)
        #expect(abs(tight.value - 1.10) < 1e-9)
        #expect(tight.low > 1.05 && tight.high < 1.15)
        #expect(tight.verdict == .better)
        let noisy = try #require(TimingStatistics([0.8, 1.3, 1.0, 1.25, 0.85]).medianInterval)
        #expect(noisy.verdict == .same, "\(noisy.low)-\(noisy.high)")
        let slower = try #require(TimingStatistics([0.90, 0.91, 0.89, 0.90, 0.92]).medianInterval)
        #expect(slower.verdict == .worse)
        // A ratio and its inverse get mirrored intervals.
        let inverse = try #require(
            TimingStatistics([1 / 1.10, 1 / 1.11, 1 / 1.12, 1 / 1.09, 1 / 1.10, 1 / 1.11, 1 / 1.10]).medianInterval
        )
        #expect(abs(inverse.low * tight.high - 1) < 1e-9)
        #expect(TimingStatistics([1.0]).medianInterval == nil)
        #expect(TimingStatistics([1.0, -1.0]).medianInterval == nil)
    }

    @Test("the geometric mean's interval is its shapes' mean width: shapes timed on one machine share their errors")
    func combinedInterval() throws {
        let one = LogInterval(center: log(1.05), halfWidth: 0.06)
        let four = try #require(LogInterval.geometricMean([one, one, one, one]))
        #expect(abs(four.value - 1.05) < 1e-9)
        // Not narrowed by √4, as independent errors would be: four noisy shapes that agree are still noisy.
        #expect(abs(four.halfWidth - 0.06) < 1e-12)
        #expect(four.verdict == .same)
        let tight = LogInterval(center: log(1.05), halfWidth: 0.02)
        let mixed = try #require(
            LogInterval.geometricMean([tight, tight, one, LogInterval(center: 0, halfWidth: 0.02)])
        )
        #expect(abs(mixed.halfWidth - 0.03) < 1e-12)
        #expect(abs(mixed.center - 3 * log(1.05) / 4) < 1e-12)
        #expect(mixed.verdict == .better)
        #expect(LogInterval.geometricMean([]) == nil)
    }

    /// Pairs of a 50 ms baseline and a 10 ms candidate, each within 1% jitter, where one in ten of the
    /// baseline's calls and `disturbed` in ten of the candidate's (a kernel on every core is stalled by
    /// anything that takes one) took 1.3-1.9x as long.
    private static func pairs(disturbed: Int, count: Int = 15) -> (baseline: [Double], candidate: [Double]) {
        var generator = SeedGenerator(seed: UInt64(disturbed) + 11)
        func time(_ base: Double, _ index: Int, offset: Int, disturbed: Int) -> Double {
            let jitter = 1 + Double(generator.next() % 1000) / 100_000
            let hit = (index * 7 + offset) % 10 < disturbed
            let delay = hit ? 1.3 + Double(generator.next() % 600) / 1000 : 1
            return base * jitter * delay
        }
        let baseline = (0..<count).map { time(0.050, $0, offset: 3, disturbed: 1) }
        let candidate = (0..<count).map { time(0.010, $0, offset: 0, disturbed: disturbed) }
        return (baseline, candidate)
    }

    @Test("the decile ratio keeps to the undisturbed calls however often calls are disturbed; the median does not")
    func decileRatioIgnoresDisturbances() throws {
        var deciles: [Double] = []
        var medians: [Double] = []
        for disturbed in [1, 3, 5] {
            let (baseline, candidate) = Self.pairs(disturbed: disturbed)
            let ratio = try #require(DecileRatio(baseline, over: candidate))
            deciles.append(ratio.ratio)
            medians.append(try #require(TimingStatistics(zip(baseline, candidate).map { $0 / $1 }).median))
            #expect(ratio.numerator < 0.0506 && ratio.denominator < 0.0102)
        }
        let decileSpread = try #require(deciles.max()) / (try #require(deciles.min())) - 1
        let medianSpread = try #require(medians.max()) / (try #require(medians.min())) - 1
        #expect(decileSpread < 0.02, "decile ratios \(deciles)")
        #expect(medianSpread > 0.05, "median ratios \(medians): the pattern must disturb the median")
        for ratio in deciles { #expect(abs(ratio - 5) / 5 < 0.02) }
    }

    @Test("the decile ratio's interval is a bootstrap over pairs: it holds the ratio, repeats, and decides")
    func decileRatioInterval() throws {
        let (baseline, candidate) = Self.pairs(disturbed: 3)
        let ratio = try #require(DecileRatio(baseline, over: candidate))
        let interval = try #require(ratio.interval)
        #expect(interval.low <= ratio.ratio && ratio.ratio <= interval.high)
        #expect(abs(interval.value - ratio.ratio) < 1e-9)
        #expect(DecileRatio(baseline, over: candidate) == ratio)
        #expect(interval.verdict == .better)
        // A side against itself: the same calls, so nothing to claim.
        let same = try #require(DecileRatio(candidate, over: candidate))
        #expect(same.ratio == 1)
        #expect(same.interval?.verdict == .same)
        // Odd calls against even calls of one candidate: the same kernel, the same machine.
        let odd = stride(from: 0, to: 14, by: 2).map { candidate[$0] }
        let even = stride(from: 1, to: 15, by: 2).map { candidate[$0] }
        #expect(DecileRatio(odd, over: even)?.interval?.verdict == .same)
        // One pair has a ratio but no interval; no pairs, or a time that is not positive, have nothing.
        #expect(DecileRatio([2], over: [1])?.ratio == 2)
        #expect(DecileRatio([2], over: [1])?.interval == nil)
        #expect(DecileRatio([], over: []) == nil)
        #expect(DecileRatio([1, 0], over: [1, 1]) == nil)
    }
}
