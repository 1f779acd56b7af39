import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// In-place buffers (`KILN_INOUT`, `problem.inout`): filled by the setup, put back to those contents before
/// every call, and compared with the oracle's after it. The fixture task is BLAS's saxpy, `y += alpha * x`;
/// its Triton twin, `inplace-axpy-triton`, is driven by the Python tests (Tests/Python/test_triton_driver.py).
@Suite(.timeLimit(.minutes(5)))
struct InPlaceBufferTests {
    static func field(_ name: String, of reply: String) -> String? {
        reply.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test(
        "the C driver puts an in-place buffer back before every call: three calls on one setup give one call's answer"
    )
    func restoredBeforeEveryCall() async throws {
        try await withTemporaryDirectory { logs in
            let task = try KernelTask.load(from: Fixtures.file("inplace-axpy"))
            let shape = try task.shapes(named: ["odd"])[0]
            let cache = Fixtures.sharedCache
            let baseline = try await TrustedDriver(.baseline, task: task, shape: shape, cache: cache, logs: logs)
            let oracle = try await TrustedDriver(.oracle, task: task, shape: shape, cache: cache, logs: logs)
            defer {
                baseline.close()
                oracle.close()
            }
            #expect(baseline.line().hasPrefix("ready") && oracle.line().hasPrefix("ready"))
            let setup = try baseline.request("setup 5 3")
            #expect(Self.field("outputs", of: setup) == "\(300_007 * 4)", "y is read back, x is not: \(setup)")
            let inputs = try #require(Self.field("inputs", of: setup))
            for _ in 0..<3 {
                // Left as the last call made it, y would gain alpha * x once more each time.
                let call = try baseline.request("call 10000")
                #expect(call.hasPrefix("ok ") && Self.field("inputs", of: call) == inputs, "x unchanged: \(call)")
            }
            let reply = try baseline.request("out")
            let count = Int(Self.field("bytes", of: reply) ?? "") ?? 0
            let outputs = baseline.bytes(count)
            #expect(count == 300_007 * 4 && outputs.count == count, "\(reply)")
            #expect(Self.field("inputs", of: try oracle.request("setup 5 3")) == inputs)
            #expect(try oracle.request("call 10000").hasPrefix("ok "))
            let check = try oracle.request("check \(outputs.count)", payload: outputs)
            #expect(Self.field("max_abs", of: check).flatMap(Double.init).map { $0 < 1e-5 } == true, "\(check)")
        }
    }

    @Test("the right in-place update passes a timed evaluation beside the in-place baseline")
    func correctUpdate() async throws {
        let result = try await evaluateFixture("seeds/unrolled.c", of: "inplace-axpy", timed: true, shapes: ["odd"])
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
        #expect(result.shapes.count == 1 && (result.shapes.first?.speedup ?? 0) > 0, "timed")
    }

    @Test(
        "an in-place buffer is read as the setup filled it (not NaN) and compared after the call",
        arguments: ["overwrites.c", "adds_twice.c"]
    )
    func wrongUpdates(candidate: String) async throws {
        let result = try await evaluateFixture(candidate, of: "inplace-axpy")
        #expect(result.verdict == .wrongResult, "\(candidate): \(result.failure ?? "passed")")
        #expect(result.failure?.contains("y[") == true, "\(result.failure ?? "")")
    }
}
