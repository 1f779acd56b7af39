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
}
