import Foundation
import KilnCore

/// A tree-structured Parzen estimator: models the values of the best quarter of the trials and of
/// the rest, axis by axis, and proposes the untried point where the first is most likely relative to
/// the second.
package struct TreeParzenSearch: SearchStrategy {
    package let name = "tpe"
    /// The fraction of valid trials counted as good.
    package var gamma = 0.25
    /// Candidates drawn from the good model per proposal.
    package var candidates = 48

    package init() {}

    package func propose(space: SearchSpace, history: [Trial], seed: UInt64) -> Int? {
        let tried = Set(history.map(\.index))
        if !tried.contains(0) { return 0 }
        var generator = space.generator(seed: seed, step: history.count, salt: 0x74706521)
        let startup = max(5, min(10, space.size / 20))
        let valid = history.filter { $0.score != nil }.sorted { ($0.score ?? 0) > ($1.score ?? 0) }
        guard history.count >= startup, !valid.isEmpty else {
            return space.randomUntried(tried: tried, using: &generator)
        }
        let goodCount = max(1, Int((gamma * Double(valid.count)).rounded(.up)))
        let good = valid.prefix(goodCount).map { space.coordinates(of: $0.index) }
        let bad = (valid.dropFirst(goodCount) + history.filter { $0.score == nil }).map {
            space.coordinates(of: $0.index)
        }
        let goodModel = Self.model(good, space: space)
        let badModel = Self.model(bad, space: space)
        var bestIndex: Int? = nil
        var bestScore = -Double.infinity
        for _ in 0..<candidates {
            var point: [Int] = []
            for axis in space.axes.indices {
                point.append(Self.sample(goodModel[axis], using: &generator))
            }
            let index = space.index(of: point)
            guard !tried.contains(index) else { continue }
            let score = space.axes.indices.reduce(0.0) { sum, axis in
                sum + log(goodModel[axis][point[axis]]) - log(badModel[axis][point[axis]])
            }
            if score > bestScore {
                bestScore = score
                bestIndex = index
            }
        }
        return bestIndex ?? space.randomUntried(tried: tried, using: &generator)
    }

    /// Per-axis categorical distributions with a uniform prior of weight one.
    static func model(_ points: [[Int]], space: SearchSpace) -> [[Double]] {
        space.axes.indices.map { axis in
            let count = space.axes[axis].count
            var weights = [Double](repeating: 1.0 / Double(count), count: count)
            for point in points { weights[point[axis]] += 1 }
            let total = weights.reduce(0, +)
            return weights.map { $0 / total }
        }
    }

    static func sample(_ weights: [Double], using generator: inout SeedGenerator) -> Int {
        var target = Double.random(in: 0..<1, using: &generator)
        for (index, weight) in weights.enumerated() {
            target -= weight
            if target < 0 { return index }
        }
        return weights.count - 1
    }
}
