import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// The bundled tasks are correct, their seeds pass every shape, and every feature of the
/// extend-attention signature matters: a candidate that ignores one fails on a suite shape.
@Suite(.timeLimit(.minutes(5)))
struct BundledTaskTests {
    static func check(task name: String, candidate: URL, shapes: [String]) async throws -> EvaluationResult {
        let task = try Fixtures.task(name)
        let source = try String(contentsOf: candidate, encoding: .utf8)
        var options = EvaluationOptions()
        options.isCorrectnessOnly = true
        let space = try TunableSpace.parse(source: source, file: candidate.lastPathComponent)
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: candidate.lastPathComponent,
            configuration: space.defaultConfiguration,
            shapes: try task.shapes(named: shapes),
            options: options
        )
        return try await Evaluator(cacheDirectory: Fixtures.sharedCache).evaluate(request)
    }

    @Test(
        "a candidate that ignores one feature of extend attention fails on a suite shape",
        arguments: [
            ("no_logit_cap.c", "capped"),
            ("wrong_gqa.c", "decode-like"),
            ("contiguous_prefix.c", "decode-like"),
            ("no_causal.c", "mha"),
        ]
    )
    func wrongCandidates(fixture: String, shape: String) async throws {
        let task = try Fixtures.task("extend-attention")
        #expect(task.suite.contains { $0.name == shape })
        let result = try await Self.check(
            task: "extend-attention",
            candidate: Fixtures.file("extend-attention/\(fixture)"),
            shapes: [shape]
        )
        #expect(result.verdict == .wrongResult, "\(fixture): \(result.failure ?? "passed")")
    }

    @Test("a straightforward correct candidate passes")
    func naive() async throws {
        let result = try await Self.check(
            task: "extend-attention",
            candidate: Fixtures.file("extend-attention/naive.c"),
            shapes: ["decode-like", "mha"]
        )
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
    }

    @Test(
        "each bundled seed design is correct on every suite and held-out shape",
        arguments: ["extend-attention", "matmul"]
    )
    func seeds(task name: String) async throws {
        let task = try Fixtures.task(name)
        for seed in task.seeds {
            let result = try await Self.check(
                task: name,
                candidate: task.url(of: seed),
                shapes: (task.suite + task.heldout).map(\.name)
            )
            #expect(result.verdict == .correct, "\(seed): \(result.failure ?? "")")
            #expect(result.shapes.count == task.suite.count + task.heldout.count)
        }
    }
}
