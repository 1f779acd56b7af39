import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// A candidate timed beside a rival in the same pairs (``EvaluationRequest/rival``): each side first,
/// second and third in turn, the ratio per shape with its interval, and a verdict over the suite.
@Suite(.timeLimit(.minutes(5)))
struct ComparisonTests {
    static let shapes = ["square-256", "tall-512x128x256"]

    static func request(rival: Rival?, correctnessOnly: Bool = false) throws -> EvaluationRequest {
        let task = try Fixtures.task("matmul")
        let url = Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c")
        let source = try String(contentsOf: url, encoding: .utf8)
        var options = EvaluationOptions()
        options.minPairs = 6
        options.maxPairs = 6
        options.usesCache = false
        options.isCorrectnessOnly = correctnessOnly
        var request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: "tiled.c",
            configuration: try TunableSpace.parse(source: source, file: "tiled.c").defaultConfiguration,
            shapes: try task.shapes(named: shapes),
            options: options
        )
        request.rival = rival
        return request
    }

    static func rival(_ url: URL, name: String) throws -> Rival {
        let source = try String(contentsOf: url, encoding: .utf8)
        return Rival(
            name: name,
            candidate: 3,
            source: source,
            configuration: try TunableSpace.parse(source: source, file: name).defaultConfiguration
        )
    }

    @Test("beside the task's naive baseline as its rival, the tiled seed is better, and the two ratios agree")
    func slowRival() async throws {
        let baseline = Fixtures.taskFolder("matmul").appending(path: "baseline.c")
        let request = try Self.request(rival: try Self.rival(baseline, name: "#3"))
        let result = try await Evaluator(cacheDirectory: Fixtures.sharedCache).evaluate(request)
        #expect(result.correct, "\(result.failure ?? "")")
        let comparison = try #require(result.comparison)
        #expect(comparison.rival == "#3")
        #expect(comparison.rivalCandidate == 3)
        #expect(comparison.shapes == Self.shapes.count)
        #expect(comparison.low <= comparison.ratio && comparison.ratio <= comparison.high)
        #expect(comparison.verdict == .better, "\(comparison.summary)")
        for shape in result.shapes {
            // The pairs end on a whole round of the six orders.
            #expect(shape.pairs == 6, "\(shape.name)")
            let versus = try #require(shape.versus, "\(shape.name)")
            let speedup = try #require(shape.speedup)
            #expect(shape.rivalSeconds != nil)
            // The same code timed as the baseline and as the rival, in the same pairs: the same ratio, up to
            // the rival's own flags and noise (a factor of two is far outside either).
            #expect(versus / speedup > 0.5 && versus / speedup < 2, "\(shape.name): \(versus) vs \(speedup)")
        }
        #expect(result.speedupInterval != nil)
    }

    @Test(
        "a rival that crashes or computes a wrong result is dropped with its reason; the candidate's own result stands",
        arguments: [
            ("hostile/segfault.c", "no comparison with #3: it died"),
            ("hostile/no_write.c", "no comparison with #3: it gave a wrong result: "),
        ]
    )
    func failingRival(fixture: String, note: String) async throws {
        let request = try Self.request(rival: try Self.rival(Fixtures.file(fixture), name: "#3"))
        let result = try await Evaluator(cacheDirectory: Fixtures.sharedCache).evaluate(request)
        #expect(result.correct, "\(result.failure ?? "")")
        #expect(result.geomeanSpeedup != nil)
        #expect(result.comparison == nil)
        let notes = result.shapes.flatMap(\.notes)
        #expect(notes.contains { $0.hasPrefix(note) }, "\(notes)")
    }

    @Test("a correctness-only evaluation compares nothing, and a rival is part of what the cache keys on")
    func correctnessOnlyAndCache() async throws {
        let baseline = Fixtures.taskFolder("matmul").appending(path: "baseline.c")
        let rival = try Self.rival(baseline, name: "#3")
        let evaluator = Evaluator(cacheDirectory: Fixtures.sharedCache)
        let checked = try await evaluator.evaluate(try Self.request(rival: rival, correctnessOnly: true))
        #expect(checked.correct)
        #expect(checked.comparison == nil)
        #expect(checked.shapes.allSatisfy { $0.versus == nil })
        let alone = try await evaluator.evaluate(try Self.request(rival: nil, correctnessOnly: true))
        #expect(alone.correct)
        #expect(alone.contentHash != checked.contentHash)
    }
}
