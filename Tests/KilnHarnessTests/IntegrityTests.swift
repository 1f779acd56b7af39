import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// Each hostile fixture tries one cheat on the cheap matmul task; each must end as a failure that
/// names the reason, with the harness unharmed.
@Suite(.timeLimit(.minutes(5)))
struct IntegrityTests {
    static func evaluate(
        _ fixture: String,
        timed: Bool = false,
        timeout: Duration? = nil,
        shapes: [String] = []
    ) async throws -> EvaluationResult {
        let task = try Fixtures.task("matmul")
        let source = try Fixtures.source("hostile/\(fixture)")
        var options = EvaluationOptions()
        options.usesCache = false
        options.isCorrectnessOnly = !timed
        options.minPairs = 2
        options.maxPairs = 2
        options.callTimeout = timeout
        let space = try TunableSpace.parse(source: source, file: fixture)
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: fixture,
            configuration: space.defaultConfiguration,
            shapes: try task.shapes(named: shapes),
            options: options
        )
        return try await Evaluator(cacheDirectory: Fixtures.sharedCache).evaluate(request)
    }

    @Test(
        "a cheat found on the first call ends as a named failure",
        arguments: [
            ("no_write.c", Verdict.wrongResult, "NaN"),
            ("partial_write.c", .wrongResult, "NaN"),
            ("modify_input.c", .integrityViolation, "modified its inputs"),
            ("segfault.c", .crashed, "segmentation fault"),
            ("abort.c", .crashed, "SIGABRT"),
            ("fork_child.c", .integrityViolation, "forbidden system call"),
            ("lingering_thread.c", .integrityViolation, "kept working after returning"),
            ("late_writer.c", .integrityViolation, "kept working after returning"),
            ("exit_early.c", .integrityViolation, "exit status 0"),
            ("reads_proc.c", .wrongResult, "max abs error"),
            ("huge_alloc.c", .wrongResult, "max abs error"),
            ("clock_override.c", .integrityViolation, "clock_gettime"),
            ("constructor.c", .integrityViolation, "constructors"),
            ("missing_entry.c", .buildFailed, "does not define"),
            ("fake_timer.c", .integrityViolation, "timer tampering"),
            ("syntax_error.c", .buildFailed, "error"),
        ]
    )
    func firstCallCheats(fixture: String, verdict: Verdict, reason: String) async throws {
        let result = try await Self.evaluate(fixture)
        #expect(result.verdict == verdict, "\(fixture): \(result.failure ?? "no failure")")
        #expect(!result.correct)
        #expect(result.geomeanSpeedup == nil)
        #expect(result.failure?.contains(reason) == true, "\(fixture): \(result.failure ?? "no failure")")
    }

    @Test(
        "answers cached across calls, keyed on pointers or on a sample of the inputs, are caught",
        arguments: ["pointer_cache.c", "sample_cache.c", "first_call_only.c"]
    )
    func laterCallCheats(fixture: String) async throws {
        let result = try await Self.evaluate(fixture)
        #expect(result.verdict == .wrongResult, "\(fixture): \(result.failure ?? "no failure")")
        #expect(result.failure?.contains("inputs changed in a few places") == true)
    }

    @Test("an endless loop is killed with its process group within the deadline")
    func endlessLoop() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await Self.evaluate("infinite_loop.c", timeout: .seconds(1))
        #expect(result.verdict == .timedOut)
        #expect(result.failure?.contains("process group was killed") == true)
        #expect(clock.now - start < .seconds(60))
    }

    @Test("a candidate that prints things that look like results is judged on its outputs alone")
    func printsResults() async throws {
        let result = try await Self.evaluate("prints_results.c", timed: true)
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
        #expect(result.shapes.allSatisfy { $0.checkedCalls >= 3 })
    }

    @Test("a candidate cannot make memory executable, so it cannot patch the driver's timer")
    func noExecutableMemory() async throws {
        let result = try await Self.evaluate("patch_code.c")
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
    }

    @Test("a correct but slow candidate is correct and slower than the baseline")
    func slowCorrect() async throws {
        let result = try await Self.evaluate("slow_correct.c", timed: true)
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
        let speedup = try #require(result.geomeanSpeedup)
        #expect(speedup < 1)
    }
}
