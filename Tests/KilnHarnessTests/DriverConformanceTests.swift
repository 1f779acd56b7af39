import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// The driver protocol's conformance checks: Kiln's two drivers pass them, and a driver that gets the
/// protocol wrong is told each thing it gets wrong.
@Suite(.timeLimit(.minutes(5)))
struct DriverConformanceTests {
    @Test("the C monitor passes every conformance check")
    func cMonitor() async throws {
        let task = try Fixtures.task("matmul")
        let findings = try await Evaluator(cacheDirectory: Fixtures.sharedCache).conformance(
            of: task,
            shape: task.suite[0]
        )
        #expect(findings.count >= 15)
        #expect(findings.allSatisfy { $0.passed }, "\(findings.filter { !$0.passed })")
    }

    @Test(
        "the Triton driver passes every conformance check",
        .enabled(if: TritonAvailability.isAvailable, "needs a Python with torch and triton")
    )
    func tritonDriver() async throws {
        let task = try Fixtures.task("rmsnorm-triton")
        let evaluator = Evaluator(cacheDirectory: Fixtures.sharedCache)
        let prepared = try await evaluator.prepare(task).task
        let findings = try await evaluator.conformance(of: prepared, shape: prepared.suite[0])
        #expect(findings.count >= 15)
        #expect(findings.allSatisfy { $0.passed }, "\(findings.filter { !$0.passed })")
    }

    @Test("an in-place driver passes every conformance check; one that never puts its buffer back fails that one")
    func inPlace() async throws {
        let task = try KernelTask.load(from: Fixtures.file("inplace-axpy"))
        let findings = try await Evaluator(cacheDirectory: Fixtures.sharedCache).conformance(
            of: task,
            shape: task.suite[1]
        )
        #expect(findings.allSatisfy { $0.passed }, "\(findings.filter { !$0.passed })")
        let repeated = "a second call on one setup gives the first call's outputs (rel_l2 ≤ 1e-3)"
        #expect(findings.contains { $0.passed && $0.check == repeated })
        let driver = Fixtures.file("drivers/accumulating_driver.py").path
        let accumulating = await DriverConformance.check(command: ["/usr/bin/env", "python3", driver])
        #expect(accumulating.filter { !$0.passed }.map(\.check) == [repeated], "\(accumulating)")
    }

    @Test("a careless driver fails the checks it breaks, each named")
    func carelessDriver() async throws {
        let driver = Fixtures.file("drivers/careless_driver.py").path
        let findings = await DriverConformance.check(command: ["/usr/bin/env", "python3", driver])
        let failed = Set(findings.filter { !$0.passed }.map(\.check))
        #expect(failed.contains("'setup 1 0' again makes the same inputs"), "\(failed)")
        #expect(failed.contains("'call MS' answers 'ok ns=N inputs=HEX16' with its setup's hash"), "\(failed)")
        #expect(failed.contains("an unknown command is an error"), "\(failed)")
        #expect(failed.contains("'check' of changed outputs finds the difference and names its element"), "\(failed)")
        #expect(failed.contains("'out' before any call is an error"), "\(failed)")
        #expect(findings.contains { $0.passed && $0.check == "its first line is 'ready ...'" })
    }
}
