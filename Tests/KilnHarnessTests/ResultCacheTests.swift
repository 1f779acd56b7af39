import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// What the result cache keeps: an evaluation's result answers identical later ones, a measurement past
/// the cache replaces it, and one that is not to be stored (a run's re-measurement) leaves it as it was.
@Suite(.timeLimit(.minutes(5)))
struct ResultCacheTests {
    static func request() throws -> EvaluationRequest {
        let task = try Fixtures.task("matmul")
        let source = try String(contentsOf: task.url(of: "seeds/tiled.c"), encoding: .utf8)
        var options = EvaluationOptions()
        options.minPairs = 2
        options.maxPairs = 2
        return EvaluationRequest(
            task: task,
            source: source,
            candidateName: "seeds/tiled.c",
            configuration: try TunableSpace.parse(source: source, file: "tiled.c").defaultConfiguration,
            shapes: try task.shapes(named: ["square-256"]),
            options: options
        )
    }

    /// A measurement's own times, which no other measurement repeats to the last bit.
    static func times(_ result: EvaluationResult) -> [Double?] {
        result.shapes.flatMap { [$0.baselineSeconds, $0.candidateSeconds] } + [result.wallSeconds]
    }

    @Test(
        "a measurement that is not to be stored leaves the cached result the one stored before; one that is replaces it"
    )
    func unstoredMeasurement() async throws {
        try await withTemporaryDirectory { folder in
            let evaluator = Evaluator(cacheDirectory: try await Fixtures.freshCache(in: folder))
            let request = try Self.request()
            let first = try await evaluator.evaluate(request)
            #expect(first.correct && !first.isCached, "\(first.failure ?? "")")

            var unstored = request
            unstored.options.usesCache = false
            unstored.options.storesResult = false
            let remeasured = try await evaluator.evaluate(unstored)
            #expect(remeasured.correct && !remeasured.isCached)
            #expect(Self.times(remeasured) != Self.times(first))
            let answered = try await evaluator.evaluate(request)
            #expect(answered.isCached)
            #expect(Self.times(answered) == Self.times(first), "the first result still answers")

            var stored = request
            stored.options.usesCache = false
            let replacing = try await evaluator.evaluate(stored)
            #expect(!replacing.isCached)
            let replaced = try await evaluator.evaluate(request)
            #expect(replaced.isCached)
            #expect(Self.times(replaced) == Self.times(replacing), "a stored measurement replaces it")
        }
    }
}
