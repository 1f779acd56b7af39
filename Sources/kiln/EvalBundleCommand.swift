import ArgumentParser
import Foundation
import KilnHarness

/// What a cluster's node runs for each evaluation it is sent: the bundle evaluated here, with this node's
/// cache and sandbox, exactly as `kiln eval` would; its result as JSON on stdout.
struct EvalBundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-bundle",
        abstract: "Evaluate an evaluation bundle (what a cluster's node runs); print its result as JSON.",
        discussion: """
            Exit codes: 0 when the evaluation produced a result, whatever its verdict (it is in the JSON); \
            69 when this node lacks a tool the task needs (the compiler, Python packages) or a sandbox; \
            other codes as 'kiln eval'.
            """,
        shouldDisplay: false
    )

    @Argument(help: "The bundle's folder (holding bundle.json and task/).")
    var bundle: String

    @Flag(name: .long, help: "Print the result as JSON (the only output this command has).")
    var json = false

    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let (request, sandboxMode) = try EvaluationBundle.read(URL(filePath: bundle))
        let evaluator = Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandboxMode)
        let result = try await evaluator.evaluate(request)
        Terminal.out(String(decoding: try EvaluationCoding.compactEncoder.encode(result), as: UTF8.self))
    }
}
