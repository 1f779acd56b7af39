import Foundation
import KilnTask
import KilnTuner
import Testing

@Suite struct StrategyTests {
    /// A 4 x 4 x 4 x 2 space with 2 flag sets: 256 points.
    static let space = SearchSpace(
        TunableSpace(
            tunables: [
                .init(name: "BM", values: ["64", "16", "32", "128"]),
                .init(name: "BN", values: ["64", "16", "32", "128"]),
                .init(name: "BK", values: ["64", "16", "32", "128"]),
                .init(name: "T", values: ["2", "1"]),
            ],
            flagSets: [["-O3"], ["-O2"]]
        )
    )

    /// A smooth landscape with one peak, some invalid corners and a flag-set effect.
    static func score(_ index: Int) -> Double? {
        let c = space.coordinates(of: index)
        if c[0] == 3 && c[1] == 3 { return nil }
        let peak = [2.0, 3.0, 1.0, 0.0, 0.0]
        let distance = zip(c.map(Double.init), peak).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        return 10 * exp(-distance / 6) + 1
    }

    @Test("grid points and configurations map both ways")
    func grid() throws {
        let space = Self.space
        #expect(space.size == 256)
        for index in [0, 1, 17, 255] {
            #expect(space.index(of: space.coordinates(of: index)) == index)
            let configuration = space.configuration(at: index)
            #expect(space.index(of: configuration) == index)
        }
        #expect(space.configuration(at: 0).values["BM"] == "64")
        #expect(space.neighbours(of: 0).count == 5)
    }

    @Test(
        "every strategy starts at the default, never repeats a point, and covers the space",
        arguments: Strategies.names
    )
    func coversSpace(name: String) throws {
        let strategy = try #require(Strategies.named(name))
        var history: [Trial] = []
        while let index = strategy.propose(space: Self.space, history: history, seed: 42) {
            #expect(!history.contains { $0.index == index })
            history.append(Trial(index: index, score: Self.score(index)))
            if history.count > 300 { break }
        }
        #expect(history.first?.index == 0)
        #expect(history.count == Self.space.size)
    }

    @Test("every strategy is deterministic for a seed", arguments: Strategies.names)
    func deterministic(name: String) throws {
        let strategy = try #require(Strategies.named(name))
        func walk(seed: UInt64) -> [Int] {
            var history: [Trial] = []
            for _ in 0..<40 {
                guard let index = strategy.propose(space: Self.space, history: history, seed: seed) else { break }
                history.append(Trial(index: index, score: Self.score(index)))
            }
            return history.map(\.index)
        }
        #expect(walk(seed: 7) == walk(seed: 7))
        if name != "exhaustive" { #expect(walk(seed: 7) != walk(seed: 8)) }
    }

    @Test("model-based and local strategies find the peak of a smooth landscape well before exhaustive search would")
    func quality() throws {
        let best = (0..<Self.space.size).compactMap(Self.score).max() ?? 0
        for name in ["tpe", "anneal"] {
            let strategy = try #require(Strategies.named(name))
            var needed: [Int] = []
            for seed in UInt64(1)...5 {
                var history: [Trial] = []
                while let index = strategy.propose(space: Self.space, history: history, seed: seed) {
                    history.append(Trial(index: index, score: Self.score(index)))
                    if (Self.score(index) ?? 0) >= 0.95 * best { break }
                }
                needed.append(history.count)
            }
            let median = needed.sorted()[2]
            #expect(median <= Self.space.size / 5, "\(name) needed \(needed)")
        }
    }
}
