import Foundation
import KilnHarness
import KilnTask
import KilnTesting

/// Evaluates a candidate of a fixture task (`Tests/Fixtures/NAME`), fresh (never answered from the cache).
/// - Parameters:
///   - candidate: its path inside the task's folder.
///   - name: the task folder's name.
///   - timed: timed (the suite, `pairs` pairs a shape) or correctness only (the suite and held-out shapes).
///   - shapes: the shapes instead, by name.
///   - pairs: timed pairs a shape.
/// - Returns: the result.
/// - Throws: when the task, the candidate or Kiln is at fault.
func evaluateFixture(
    _ candidate: String,
    of name: String,
    timed: Bool = false,
    shapes: [String]? = nil,
    pairs: Int = 4
) async throws -> EvaluationResult {
    let evaluator = Evaluator(cacheDirectory: Fixtures.sharedCache)
    // On a device that only checks correctness (Triton's interpreter), the interpreter's shapes.
    let (task, _) = try await evaluator.prepare(try KernelTask.load(from: Fixtures.file(name)))
    let url = Fixtures.file("\(name)/\(candidate)")
    let source = try String(contentsOf: url, encoding: .utf8)
    var options = EvaluationOptions()
    options.isCorrectnessOnly = !timed
    options.minPairs = pairs
    options.maxPairs = pairs
    options.usesCache = false
    let request = EvaluationRequest(
        task: task,
        source: source,
        candidateName: url.lastPathComponent,
        configuration: try TunableSpace.parse(source: source, file: url.lastPathComponent).defaultConfiguration,
        shapes: try shapes.map { try task.shapes(named: $0) } ?? (timed ? task.suite : task.suite + task.heldout),
        options: options
    )
    return try await evaluator.evaluate(request)
}
