import Foundation
import KilnTesting
import Testing

/// Issue 12's busy machine, replayed for a model: a probe taken under load, then an evaluation whose
/// baseline drifted because other work took the cores. A scripted model checks what each tool result
/// tells it; the test checks the journal.
@Suite(.timeLimit(.minutes(12)))
struct BusyMachineAgentTests {
    static func call(_ name: String, _ arguments: [String: Any]) -> [String: Any] {
        ["name": name, "arguments": arguments]
    }

    static func script(_ turns: [[String: Any]], in folder: URL, named name: String) throws -> URL {
        let url = folder.appending(path: name)
        try JSONSerialization.data(withJSONObject: ["turns": turns], options: [.prettyPrinted]).write(to: url)
        return url
    }

    static func run(script: URL, runs: URL, cache: String) async throws -> CommandResult {
        try await runKiln([
            "run", Fixtures.taskFolder("matmul").path, "--model", "scripted:\(script.path)", "--evals", "10",
            "--max-tool-calls", "10", "--time", "10m", "--min-pairs", "3", "--max-pairs", "3", "--runs", runs.path,
            "--cache-dir", cache,
        ])
    }

    @Test("a model is told the probe was taken on a busy machine, and that a later evaluation's baseline drifted")
    func busyProbeAndDriftingBaseline() async throws {
        // Its quiet run must be quieter than its busy one: never beside a loopback Ray cluster's evaluations
        // (the time limit allows for the wait).
        try await MachineLease.exclusively { try await busyProbeAndDriftingBaselineAlone() }
    }

    func busyProbeAndDriftingBaselineAlone() async throws {
        try await withTemporaryDirectory { folder in
            let cache = folder.appending(path: "cache").path
            let runs = folder.appending(path: "runs")
            let hogs = 2 * ProcessInfo.processInfo.activeProcessorCount
            let probe = try await withCPUHogs(hogs) { try await runKiln(["probe", "--cache-dir", cache]) }
            #expect(probe.exitCode == 0, "\(probe.stderr)")

            // A quiet run: the model reads the suspect profile, and the seed, timed three times in all
            // (once by Kiln before the model began), passes and gives the baseline a recent history.
            let quiet = try Self.script(
                [
                    ["tool_calls": [Self.call("probe", [:])]],
                    [
                        "expect": ["last_message_contains": "SUSPECT profile (perhaps under-read)"],
                        "tool_calls": [Self.call("evaluate", ["path": "seeds/tiled.c", "repeat": 2])],
                    ],
                    [
                        "expect": ["last_message_contains": "2 fresh evaluations: geometric means"],
                        "tool_calls": [Self.call("finish", ["summary": "quiet"])],
                    ],
                ],
                in: folder,
                named: "quiet.json"
            )
            let first = try await Self.run(script: quiet, runs: runs, cache: cache)
            #expect(first.exitCode == 0, "\(first.stdout)\n\(first.stderr)")
            #expect(!first.stderr.contains("scripted model:"), "\(first.stderr)")

            // Other work takes the cores: the next fresh evaluation says the machine was busy and how far
            // the baseline moved from its recent median, and the leaderboard marks it.
            let busy = try Self.script(
                [
                    ["tool_calls": [Self.call("evaluate", ["path": "seeds/tiled.c", "fresh": true])]],
                    [
                        "expect": ["last_message_contains": "longer than its recent median"],
                        "tool_calls": [Self.call("leaderboard", [:])],
                    ],
                    [
                        // The row shows its best figure; when that was the quiet one, it says how many of its
                        // measurements were taken on a busy machine.
                        "expect": ["last_message_contains": "measured on a busy machine]"],
                        "tool_calls": [Self.call("finish", ["summary": "busy"])],
                    ],
                ],
                in: folder,
                named: "busy.json"
            )
            // Four loops per core: whatever else runs beside this test (swift test runs suites in parallel),
            // the baseline gets a far smaller share of the machine than in the quiet run.
            let second = try await withCPUHogs(2 * hogs) {
                try await Self.run(script: busy, runs: runs, cache: cache)
            }
            #expect(second.exitCode == 0, "\(second.stdout)\n\(second.stderr)")
            #expect(!second.stderr.contains("scripted model:"), "\(second.stderr)")

            // The journal holds the load of the busy evaluation, as the model was told.
            let ids = Fixtures.runIDs(in: runs)
            #expect(ids.count == 2)
            var loads: [[String: Any]] = []
            for id in ids {
                let events = try AgentToolResultTests.events(runs.appending(path: "\(id)/journal.sqlite"))
                loads += events.filter { $0.kind == "evaluation_finished" }.compactMap {
                    ($0.payload["result"] as? [String: Any])?["load"] as? [String: Any]
                }
            }
            let busyLoads = loads.filter { $0["is_busy"] as? Bool == true }
            #expect(!busyLoads.isEmpty, "\(loads)")
            #expect(busyLoads.contains { ($0["baseline"] as? [String: Any]) != nil }, "\(busyLoads)")
            // Every evaluation passed: a busy probe rejected no honest kernel.
            #expect(!first.stdout.contains("impossible speed") && !second.stdout.contains("impossible speed"))
        }
    }
}
