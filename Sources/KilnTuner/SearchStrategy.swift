import KilnCore

/// A way of choosing the next configuration to evaluate.
///
/// A strategy is a pure function of the history (every trial so far, in order) and a seed, so a
/// resumed run replays the journal and continues exactly as an uninterrupted one would. It never
/// proposes a point already tried: invalid points are learned from, not retried.
package protocol SearchStrategy: Sendable {
    /// The strategy's name on the command line.
    var name: String { get }

    /// Proposes the next point, or nil when the strategy considers the space exhausted.
    /// - Parameters:
    ///   - space: the grid.
    ///   - history: every trial so far, in order.
    ///   - seed: the run's seed.
    /// - Returns: an untried point, or nil.
    func propose(space: SearchSpace, history: [Trial], seed: UInt64) -> Int?
}

/// The strategies Kiln ships, by name.
package enum Strategies {
    /// The names accepted by `--strategy`.
    package static let names = ["exhaustive", "random", "anneal", "genetic", "tpe"]
    /// The default: the one that reached within 5% of the exhaustive best fastest in `kiln-bench tuner`.
    package static let defaultName = "tpe"

    /// The strategy with a name.
    /// - Parameter name: one of ``names``.
    /// - Returns: the strategy, or nil for an unknown name.
    package static func named(_ name: String) -> (any SearchStrategy)? {
        switch name {
        case "exhaustive": ExhaustiveSearch()
        case "random": RandomSearch()
        case "anneal": SimulatedAnnealing()
        case "genetic": GeneticSearch()
        case "tpe": TreeParzenSearch()
        default: nil
        }
    }
}

extension SearchSpace {
    /// A generator for the decision after `history`, fixed by the seed and the history's length.
    func generator(seed: UInt64, step: Int, salt: UInt64) -> SeedGenerator {
        var mixer = SeedGenerator(seed: seed ^ salt)
        for _ in 0...(step % 7) { _ = mixer.next() }
        return SeedGenerator(seed: mixer.next() &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// An untried point chosen uniformly, or nil when all are tried.
    func randomUntried(tried: Set<Int>, using generator: inout SeedGenerator) -> Int? {
        guard tried.count < size else { return nil }
        if tried.count * 2 < size {
            while true {
                let index = Int.random(in: 0..<size, using: &generator)
                if !tried.contains(index) { return index }
            }
        }
        let untried = (0..<size).filter { !tried.contains($0) }
        return untried.randomElement(using: &generator)
    }
}

/// Every point, the default first, in grid order.
package struct ExhaustiveSearch: SearchStrategy {
    package let name = "exhaustive"
    package init() {}

    package func propose(space: SearchSpace, history: [Trial], seed: UInt64) -> Int? {
        let tried = Set(history.map(\.index))
        return (0..<space.size).first { !tried.contains($0) }
    }
}

/// Uniformly random untried points, the default first.
package struct RandomSearch: SearchStrategy {
    package let name = "random"
    package init() {}

    package func propose(space: SearchSpace, history: [Trial], seed: UInt64) -> Int? {
        let tried = Set(history.map(\.index))
        if !tried.contains(0) { return 0 }
        var generator = space.generator(seed: seed, step: history.count, salt: 0x72616E64)
        return space.randomUntried(tried: tried, using: &generator)
    }
}

extension SearchStrategy {
    /// Proposes the next point while other points are still being evaluated (a constant liar): the
    /// pending points count as tried, at the worst score measured so far, so that the points of one batch
    /// are distinct and each proposal stays a pure function of (history, pending, seed).
    /// - Parameters:
    ///   - space: the grid.
    ///   - history: every trial so far in order, pending ones included (their scores are ignored).
    ///   - pending: the indices of the points whose evaluations have not been learned from yet.
    ///   - seed: the run's seed.
    /// - Returns: a point neither tried nor pending, or nil.
    package func propose(space: SearchSpace, history: [Trial], pending: Set<Int>, seed: UInt64) -> Int? {
        guard !pending.isEmpty else { return propose(space: space, history: history, seed: seed) }
        let lie = history.filter { !pending.contains($0.index) }.compactMap(\.score).min()
        let told = history.map { pending.contains($0.index) ? Trial(index: $0.index, score: lie) : $0 }
        return propose(space: space, history: told, seed: seed)
    }
}
