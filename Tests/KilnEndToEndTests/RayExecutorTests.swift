import Foundation
import GRDB
import KilnRay
import KilnTesting
import Subprocess
import SystemPackage
import Testing

/// The Ray executor against a real Ray cluster on loopback (a head and a worker, each with one
/// `kiln_slot` and its own Kiln cache), through the built `kiln`.
@Suite(
    .serialized,
    .timeLimit(.minutes(6)),
    .enabled(if: RayAvailability.isAvailable, "needs ray importable in Kiln's Python (.ci/run installs it)")
)
struct RayExecutorTests {
    let matmul = Fixtures.taskFolder("matmul").path

    /// A two-node loopback cluster whose nodes' caches already hold this machine's probe.
    func withCluster<R: Sendable>(
        in folder: URL,
        labels: [String?] = [nil, nil],
        _ body: @escaping @Sendable (RayLocalCluster, [URL]) async throws -> R
    ) async throws -> R {
        let ray = try #require(RayAvailability.rayCommand)
        var caches: [URL] = []
        for index in labels.indices {
            caches.append(try await Fixtures.freshCache(in: folder.appending(path: "node-\(index)")))
        }
        let nodes = zip(caches, labels).map { RayLocalCluster.Node(slots: 1, cache: $0, label: $1) }
        let known = caches
        return try await RayLocalCluster.with(
            nodes,
            ray: ray,
            in: folder,
            environment: ProcessInfo.processInfo.environment
        ) { cluster in
            try await body(cluster, known)
        }
    }

    /// (kind, candidate, node id of its result) of every journal event, in order.
    static func events(_ journal: URL) throws -> [(kind: String, candidate: Int?, node: String?)] {
        let queue = try DatabaseQueue(path: journal.path)
        return try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, payload FROM events ORDER BY seq").map { row in
                let payload: Data = row["payload"]
                let object = try JSONSerialization.jsonObject(with: payload) as? [String: Any]
                let result = object?["result"] as? [String: Any]
                let node = (result?["node"] as? [String: Any])?["id"] as? String
                return (row["kind"], object?["candidate"] as? Int, node)
            }
        }
    }

    static func count(_ kind: String, in events: [(kind: String, candidate: Int?, node: String?)]) -> Int {
        events.filter { $0.kind == kind }.count
    }

    @Test("a tuner run on a two-node cluster keeps both slots busy and records the node of every result")
    func twoNodes() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let matmul = self.matmul
            try await withCluster(in: folder) { cluster, _ in
                let result = try await runKiln(
                    [
                        "run", matmul, "--executor", "ray", "--ray-address", cluster.address, "--evals", "4", "--seed",
                        "5", "--min-pairs", "2", "--max-pairs", "2", "--runs", runs.path, "--cache-dir", cache.path,
                    ]
                )
                #expect(result.exitCode == 0, "\(result.stderr)")
                #expect(result.stdout.contains("best speedup:"))
                let id = try #require(Fixtures.runIDs(in: runs).first)
                let events = try Self.events(runs.appending(path: "\(id)/journal.sqlite"))
                let finished = events.filter { $0.kind == "evaluation_finished" }
                #expect(finished.compactMap(\.candidate).sorted() == [1, 2, 3, 4])
                #expect(Self.count("evaluation_started", in: events) == 4)
                // Both nodes measured: the two slots were used side by side.
                #expect(Set(finished.compactMap(\.node)).count == 2)
                let report = try String(contentsOf: runs.appending(path: "\(id)/report.md"), encoding: .utf8)
                #expect(report.contains("## Nodes"))
                #expect(report.contains("- measured on: node "))
                // The status file the dashboard reads lives only while the run does.
                #expect(!FileManager.default.fileExists(atPath: runs.appending(path: "\(id)/executor.json").path))
            }
        }
    }

    @Test("a worker node killed mid-evaluation: the evaluation runs again on the other node and is journaled once")
    func nodeKilled() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let matmul = self.matmul
            try await withCluster(in: folder) { cluster, caches in
                // Long evaluations (many timed pairs), two at once: one on each node.
                async let run = runKiln(
                    [
                        "run", matmul, "--executor", "ray", "--ray-address", cluster.address, "--evals", "2", "--seed",
                        "7", "--min-pairs", "40", "--max-pairs", "40", "--runs", runs.path, "--cache-dir", cache.path,
                    ]
                )
                // The worker node is evaluating once its cache holds a shape's log folders.
                let logs = caches[1].appending(path: "logs")
                var isEvaluating = false
                for _ in 0..<600 where !isEvaluating {
                    try await Task.sleep(for: .milliseconds(100))
                    isEvaluating = !((try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []).isEmpty
                }
                #expect(isEvaluating, "the worker node never started an evaluation")
                cluster.kill(node: 1)
                let result = try await run
                #expect(result.exitCode == 0, "\(result.stderr)")
                let id = try #require(Fixtures.runIDs(in: runs).first)
                let events = try Self.events(runs.appending(path: "\(id)/journal.sqlite"))
                #expect(events.filter { $0.kind == "evaluation_started" }.compactMap(\.candidate).sorted() == [1, 2])
                let finished = events.filter { $0.kind == "evaluation_finished" }
                #expect(finished.compactMap(\.candidate).sorted() == [1, 2])
                // Both results came from the head: the killed node's evaluation was retried there.
                #expect(Set(finished.compactMap(\.node)).count == 1)
            }
        }
    }

    @Test("kill -9 of kiln mid-run, then resume: the journal's counts are those of an uninterrupted run")
    func killAndResume() async throws {
        try await withTemporaryDirectory { folder in
            let cache = try await Fixtures.freshCache(in: folder)
            let killedRuns = folder.appending(path: "killed")
            let straightRuns = folder.appending(path: "straight")
            let matmul = self.matmul
            try await withCluster(in: folder) { cluster, _ in
                func arguments(_ runs: URL) -> [String] {
                    [
                        "run", matmul, "--executor", "ray", "--ray-address", cluster.address, "--evals", "6", "--seed",
                        "9", "--min-pairs", "3", "--max-pairs", "3", "--runs", runs.path, "--cache-dir", cache.path,
                    ]
                }
                // Killed once two evaluations are journaled and others are in flight.
                let killed = try await Self.runKilnAndKill(arguments(killedRuns)) {
                    guard let id = Fixtures.runIDs(in: killedRuns).first,
                        let events = try? Self.events(killedRuns.appending(path: "\(id)/journal.sqlite"))
                    else { return false }
                    return Self.count("evaluation_finished", in: events) >= 2
                }
                #expect(killed, "kiln finished before it could be killed")
                let id = try #require(Fixtures.runIDs(in: killedRuns).first)
                let journal = killedRuns.appending(path: "\(id)/journal.sqlite")
                let before = try Self.events(journal)
                #expect(Self.count("finished", in: before) == 0)
                // Resumed with the executor the run was started with (its journal names it).
                let resumed = try await runKiln(["resume", id, "--runs", killedRuns.path, "--cache-dir", cache.path])
                #expect(resumed.exitCode == 0, "\(resumed.stderr)")
                let straight = try await runKiln(arguments(straightRuns))
                #expect(straight.exitCode == 0, "\(straight.stderr)")
                let straightID = try #require(Fixtures.runIDs(in: straightRuns).first)
                let after = try Self.events(journal)
                let reference = try Self.events(straightRuns.appending(path: "\(straightID)/journal.sqlite"))
                for kind in [
                    "candidate_created", "evaluation_started", "evaluation_finished", "budget_exhausted", "finished",
                ] {
                    #expect(Self.count(kind, in: after) == Self.count(kind, in: reference), "\(kind)")
                }
                #expect(
                    after.filter { $0.kind == "evaluation_finished" }.compactMap(\.candidate).sorted() == Array(1...6)
                )
                #expect(Self.count("resumed", in: after) == 1)
                // The same candidates, proposed in the same order (the proposals are a function of the seed).
                #expect(
                    try Self.configurations(journal)
                        == Self.configurations(
                            straightRuns.appending(path: "\(straightID)/journal.sqlite")
                        )
                )
            }
        }
    }

    @Test("a cluster that is not there at start: a clear error, exit code 69, and no run made")
    func clusterGone() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let port = try RayLocalCluster.freePort()
            let result = try await runKiln(
                [
                    "run", matmul, "--executor", "ray", "--ray-address", "127.0.0.1:\(port)", "--evals", "2",
                    "--runs", runs.path, "--cache-dir", Fixtures.sharedCache.path,
                ]
            )
            #expect(result.exitCode == 69)
            #expect(result.stderr.contains("the Ray cluster at 127.0.0.1:\(port) cannot be reached"))
            #expect(result.stderr.contains("ray start --head"))
            #expect(Fixtures.runIDs(in: runs).isEmpty)
        }
    }

    /// Each candidate's configuration label, by id.
    static func configurations(_ journal: URL) throws -> [String] {
        let queue = try DatabaseQueue(path: journal.path)
        return try queue.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT payload FROM events WHERE kind = 'candidate_created' ORDER BY seq"
            )
        }.map { payload in
            let object = try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]
            let record = object?["candidate_record"] as? [String: Any]
            return "\(record?["id"] ?? "?") \(record?["point"] ?? "?")"
        }
    }

    /// Starts `kiln` and kills it with SIGKILL once `condition` holds (polled every 100 ms, for at most a
    /// minute); returns whether it was killed (false when it ended first).
    static func runKilnAndKill(
        _ arguments: [String],
        when condition: @escaping @Sendable () -> Bool
    ) async throws -> Bool {
        let outcome = try await Subprocess.run(
            .path(FilePath(Fixtures.kilnExecutable.path)),
            arguments: Arguments(arguments),
            input: .none,
            output: .discarded,
            error: .discarded
        ) { execution in
            for _ in 0..<600 {
                if condition() {
                    try? execution.send(signal: .kill)
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        if case .signaled(9) = outcome.terminationStatus { return true }
        return false
    }
}
