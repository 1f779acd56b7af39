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
}
