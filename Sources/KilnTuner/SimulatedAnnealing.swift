import Foundation
import KilnCore

/// Local search that walks to neighbouring points, accepting worse ones with a probability that
/// falls as the run goes on (simulated annealing), with occasional random jumps.
package struct SimulatedAnnealing: SearchStrategy {
    package let name = "anneal"
    /// The starting temperature, in units of log-speedup.
    package var initialTemperature = 0.1
    /// The factor the temperature is multiplied by after each trial.
    package var cooling = 0.93
    /// The chance of jumping to a random point instead of a neighbour.
    package var jumpProbability = 0.1

    package init() {}

    package func propose(space: SearchSpace, history: [Trial], seed: UInt64) -> Int? {
        let tried = Set(history.map(\.index))
        if !tried.contains(0) { return 0 }
        // Replay the walk: which point is current after the history.
        var current: Trial? = nil
        var best: Trial? = nil
        var temperature = initialTemperature
        for (step, trial) in history.enumerated() {
            defer { temperature *= cooling }
            guard let score = trial.score else { continue }
            if let top = best?.score, top >= score {} else { best = trial }
            guard let currentScore = current?.score else {
                current = trial
                continue
            }
            var generator = space.generator(seed: seed, step: step, salt: 0x616E6E65)
            let delta = log(score) - log(currentScore)
            if delta >= 0 || Double.random(in: 0..<1, using: &generator) < exp(delta / max(temperature, 1e-9)) {
                current = trial
            }
        }
        var generator = space.generator(seed: seed, step: history.count, salt: 0x6E657874)
        if Double.random(in: 0..<1, using: &generator) >= jumpProbability {
            for origin in [current, best].compactMap({ $0 }) {
                let options = space.neighbours(of: origin.index).filter { !tried.contains($0) }
                if let pick = options.randomElement(using: &generator) { return pick }
            }
        }
        return space.randomUntried(tried: tried, using: &generator)
    }
}
