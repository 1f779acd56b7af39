import KilnCore

/// A genetic algorithm: children of the best points so far, by tournament selection, uniform
/// crossover and mutation.
package struct GeneticSearch: SearchStrategy {
    package let name = "genetic"
    /// How many of the best points breed.
    package var populationSize = 8
    /// Random points tried before breeding starts.
    package var startup = 6

    package init() {}

    package func propose(space: SearchSpace, history: [Trial], seed: UInt64) -> Int? {
        let tried = Set(history.map(\.index))
        if !tried.contains(0) { return 0 }
        var generator = space.generator(seed: seed, step: history.count, salt: 0x67656E65)
        let population = history.filter { $0.score != nil }
            .sorted { ($0.score ?? 0, $1.index) > ($1.score ?? 0, $0.index) }
            .prefix(populationSize)
        guard history.count >= startup, population.count >= 2 else {
            return space.randomUntried(tried: tried, using: &generator)
        }
        let parents = Array(population)
        func tournament() -> [Int] {
            let a = parents.randomElement(using: &generator) ?? parents[0]
            let b = parents.randomElement(using: &generator) ?? parents[0]
            return space.coordinates(of: (a.score ?? 0) >= (b.score ?? 0) ? a.index : b.index)
        }
        let mutation = 1.0 / Double(space.axes.count)
        for _ in 0..<40 {
            let mother = tournament()
            let father = tournament()
            var child = zip(mother, father).map { Bool.random(using: &generator) ? $0 : $1 }
            for axis in child.indices where Double.random(in: 0..<1, using: &generator) < mutation {
                child[axis] = Int.random(in: 0..<space.axes[axis].count, using: &generator)
            }
            let index = space.index(of: child)
            if !tried.contains(index) { return index }
        }
        return space.randomUntried(tried: tried, using: &generator)
    }
}
