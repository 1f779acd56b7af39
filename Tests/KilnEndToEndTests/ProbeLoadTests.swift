import Foundation
import KilnHarness
import KilnTesting
import Testing

/// Issue 12: `kiln probe` on a busy machine read half the peak, cached it for good, and correct kernels
/// were later rejected as impossibly fast. Now the probe records the load it saw and flags its profile,
/// and an evaluation is judged against a bound load cannot lower.
@Suite(.timeLimit(.minutes(5)))
struct ProbeLoadTests {
    @Test("a probe under CPU hogs records the load and is suspect; the shipped seed's timed evaluation then passes")
    func hoggedProbe() async throws {
        try await withTemporaryDirectory { folder in
            let cache = folder.appending(path: "cache").path
            // Two busy loops per core: the probe gets about a third of the machine.
            let hogs = 2 * ProcessInfo.processInfo.activeProcessorCount
            let probe = try await withCPUHogs(hogs) {
                try await runKiln(["probe", "--json", "--cache-dir", cache])
            }
            #expect(probe.exitCode == 0, "\(probe.stderr)")
            let profile = try EvaluationCoding.decoder.decode(MachineProfile.self, from: Data(probe.stdout.utf8))
            let load = try #require(profile.load, "the profile records the load the probe saw")
            #expect(load.isBusy, "\(load.note)")
            #expect((load.otherCores ?? 0) >= 0.5, "\(load.note)")
            #expect(profile.isSuspect, "a profile measured under load is not trusted")
            #expect(profile.suspectReason?.contains("busy") == true, "\(profile.suspectReason ?? "")")
            let bound = try #require(profile.theoreticalPeak)
            #expect(profile.speedLimitGflops >= bound.gflops)

            // The hogs are gone: the shipped seed, timed on one shape, is not rejected as impossibly fast.
            let task = Fixtures.taskFolder("extend-attention")
            let evaluation = try await runKiln([
                "eval", task.path, task.appending(path: "seeds/blocked.c").path, "--shapes", "prefill",
                "--min-pairs", "2", "--max-pairs", "3", "--no-cache", "--json", "--cache-dir", cache,
            ])
            #expect(evaluation.exitCode == 0, "\(evaluation.stdout.suffix(2000))\(evaluation.stderr)")
            let result = try EvaluationCoding.decoder.decode(EvaluationResult.self, from: Data(evaluation.stdout.utf8))
            #expect(result.verdict == .correct, "\(result.failure ?? "")")
            let shape = try #require(result.shapes.first)
            #expect((shape.gflops ?? 0) > 0, "the seed was timed, so its speed was checked")
            #expect(shape.fractionOfRoofline != nil)
            #expect(result.machine.peakGflopsAll >= profile.peakGflopsAll, "no figure went down")
            #expect(result.machine.load != nil)
            #expect(result.load?.note.isEmpty == false)
        }
    }
}
