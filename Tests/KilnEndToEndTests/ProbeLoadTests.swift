import Foundation
import KilnTesting
import Testing

/// Issue 12: `kiln probe` on a busy machine read half the peak, cached it for good, and correct kernels
/// were later rejected as impossibly fast. Now the probe records the load it saw and flags its profile,
/// and an evaluation is judged against a bound load cannot lower.
@Suite(.timeLimit(.minutes(5)))
struct ProbeLoadTests {
    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text.prefix(500))")
    }

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
            let profile = try Self.object(probe.stdout)
            let load = try #require(profile["load"] as? [String: Any], "the profile records the load the probe saw")
            #expect(load["is_busy"] as? Bool == true, "\(load["note"] ?? "")")
            #expect((load["other_cores"] as? Double ?? 0) >= 0.5, "\(load["note"] ?? "")")
            let reason = try #require(profile["suspect_reason"] as? String, "a profile measured under load is suspect")
            #expect(reason.contains("busy"), "\(reason)")
            let measured = try #require(profile["peak_gflops_all"] as? Double)
            let bound = try #require((profile["theoretical_peak"] as? [String: Any])?["gflops"] as? Double)
            #expect(bound > 0, "the profile has a theoretical bound, which load cannot lower")

            // The hogs are gone: the shipped seed, timed on one shape, is not rejected as impossibly fast.
            let task = Fixtures.taskFolder("extend-attention")
            let evaluation = try await runKiln([
                "eval", task.path, task.appending(path: "seeds/blocked.c").path, "--shapes", "prefill",
                "--min-pairs", "2", "--max-pairs", "3", "--no-cache", "--json", "--cache-dir", cache,
            ])
            #expect(evaluation.exitCode == 0, "\(evaluation.stdout.suffix(2000))\(evaluation.stderr)")
            let result = try Self.object(evaluation.stdout)
            #expect(result["verdict"] as? String == "correct", "\(result["failure"] ?? "")")
            let shape = try #require((result["shapes"] as? [[String: Any]])?.first)
            #expect((shape["gflops"] as? Double ?? 0) > 0, "the seed was timed, so its speed was checked")
            #expect(shape["fraction_of_roofline"] is Double)
            let machine = try #require(result["machine"] as? [String: Any])
            #expect((machine["peak_gflops_all"] as? Double ?? 0) >= measured, "no figure went down")
            #expect(machine["load"] is [String: Any])
            #expect((result["load"] as? [String: Any])?["note"] is String)
        }
    }
}
