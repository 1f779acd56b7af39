import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// 16-bit float buffers in the C backend (`KILN_F16`, `KILN_BF16`): made and read with `kiln_task.h`'s
/// conversions, NaN before every call, compared in float64 with the task's tolerance for the dtype.
@Suite(.timeLimit(.minutes(5)))
struct HalfPrecisionTests {
    static func evaluate(_ candidate: String, timed: Bool = false, shapes: [String]? = nil) async throws
        -> EvaluationResult
    {
        try await evaluateFixture(candidate, of: "half-scale", timed: timed, shapes: shapes, pairs: 3)
    }

    @Test("a correct fp16 and bf16 kernel (the compiler's _Float16 against Kiln's conversions) passes timed pairs")
    func correct() async throws {
        let timed = try await Self.evaluate("seeds/native_fp16.c", timed: true)
        #expect(timed.verdict == .correct, "\(timed.failure ?? "")")
        for shape in timed.shapes { #expect((shape.speedup ?? 0) > 0, "\(shape.name) was timed") }
    }

    @Test("bf16 read as fp16 fails against the bfloat16 tolerance, named; fp16 alone passes")
    func wrongDtype() async throws {
        let fp16 = try await Self.evaluate("as_fp16.c", shapes: ["fp16"])
        #expect(fp16.verdict == .correct, "\(fp16.failure ?? "")")
        let bf16 = try await Self.evaluate("as_fp16.c", shapes: ["bf16-odd"])
        #expect(bf16.verdict == .wrongResult)
        let failure = bf16.failure ?? ""
        #expect(failure.contains("y[") && failure.contains("tolerance for bfloat16 0.125"), "\(failure)")
    }

    @Test("16-bit outputs left unwritten are NaN and fail")
    func unwritten() async throws {
        let result = try await Self.evaluate("skips_tail.c", shapes: ["fp16"])
        #expect(result.verdict == .wrongResult)
        #expect(result.failure?.contains("7 output values are NaN") == true, "\(result.failure ?? "")")
    }
}
