import Foundation
import GRDB
import KilnRay
import KilnTesting
import Subprocess
import SystemPackage
import Testing

/// The Ray executor against a real Ray cluster on loopback, through the built `kiln`. The suite's tests share
/// one cluster (a head and a worker, each with one `kiln_slot` and its own Kiln cache), started once and
/// stopped after the last of them; a test that kills a node adds a node of its own to kill.
@Suite(
    .serialized,
    .timeLimit(.minutes(10)),
    .enabled(if: RayAvailability.isAvailable, "needs ray importable in Kiln's Python (.ci/run installs it)"),
    .rayCluster
)
struct RayExecutorTests {
    let matmul = Fixtures.taskFolder("matmul").path

    /// The suite's cluster.
    func shared() throws -> SharedRayCluster { try #require(SharedRayCluster.current) }

    @Test("a tuner run on a two-node cluster keeps both slots busy and records the node of every result")
    func twoNodes() async throws {
        let cluster = try shared().cluster
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
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

    @Test("a worker node killed mid-evaluation: the evaluation runs again on another node and is journaled once")
    func nodeKilled() async throws {
        let cluster = try shared().cluster
        let matmul = self.matmul
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let doomedCache = try await Fixtures.freshCache(in: folder.appending(path: "doomed"))
            // A third node, to be killed; with three slots and three long evaluations at once, each node has one.
            try await cluster.withNode(RayLocalCluster.Node(slots: 1, cache: doomedCache)) { doomed in
                async let run = runKiln(
                    [
                        "run", matmul, "--executor", "ray", "--ray-address", cluster.address, "--evals", "3", "--seed",
                        "7", "--min-pairs", "40", "--max-pairs", "40", "--runs", runs.path, "--cache-dir", cache.path,
                    ]
                )
                // The doomed node is evaluating once its cache holds a shape's log folders.
                let logs = doomedCache.appending(path: "logs")
                var isEvaluating = false
                for _ in 0..<1200 where !isEvaluating {
                    try await Task.sleep(for: .milliseconds(100))
                    isEvaluating = !((try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []).isEmpty
                }
                #expect(isEvaluating, "the doomed node never started an evaluation")
                cluster.kill(node: doomed)
                let result = try await run
                #expect(result.exitCode == 0, "\(result.stderr)")
                let id = try #require(Fixtures.runIDs(in: runs).first)
                let events = try Self.events(runs.appending(path: "\(id)/journal.sqlite"))
                #expect(
                    events.filter { $0.kind == "evaluation_started" }.compactMap(\.candidate).sorted() == [1, 2, 3]
                )
                let finished = events.filter { $0.kind == "evaluation_finished" }
                #expect(finished.compactMap(\.candidate).sorted() == [1, 2, 3])
                // Every result came from the two nodes left: the killed node's evaluation was retried there.
                #expect(Set(finished.compactMap(\.node)).count <= 2)
                #expect(finished.allSatisfy { $0.node != nil })
            }
        }
    }

    @Test("kill -9 of kiln mid-run, then resume: the journal's counts are those of an uninterrupted run")
    func killAndResume() async throws {
        let cluster = try shared().cluster
        let matmul = self.matmul
        try await withTemporaryDirectory { folder in
            let cache = try await Fixtures.freshCache(in: folder)
            let killedRuns = folder.appending(path: "killed")
            let straightRuns = folder.appending(path: "straight")
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
            #expect(after.filter { $0.kind == "evaluation_finished" }.compactMap(\.candidate).sorted() == Array(1...6))
            #expect(Self.count("resumed", in: after) == 1)
        }
    }

    @Test("a candidate on a node cannot see the node's Ray folders or other bundles: the sandbox hides /tmp")
    func sandboxOnNode() async throws {
        let cluster = try shared().cluster
        let candidate = Fixtures.file("hostile/peek_cluster.c").path
        try await withTemporaryDirectory { folder in
            let cache = try await Fixtures.freshCache(in: folder)
            let nodeFolders = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("kr-") }
            #expect(nodeFolders.count >= 2, "the nodes' folders are in /tmp for the candidate to look for")
            let arguments = [
                "eval", matmul, candidate, "--executor", "ray", "--ray-address", cluster.address, "--min-pairs", "2",
                "--max-pairs", "2", "--cache-dir", cache.path,
            ]
            // Correct only where it sees no Ray node folder and no bundle in /tmp (the worker cannot even list
            // /tmp: EACCES), while the cluster's nodes keep theirs there.
            let jailed = try await runKiln(arguments)
            #expect(jailed.exitCode == 0, "\(jailed.stdout)\(jailed.stderr)")
            #expect(jailed.stdout.contains("measured on node "))
        }
    }

    @Test("nodes of two kinds: every result names its kind, and the winner is measured on the reference kind")
    func referenceKind() async throws {
        let cluster = try shared().cluster
        let matmul = self.matmul
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let otherCache = try await Fixtures.freshCache(in: folder.appending(path: "other"))
            let result = try await cluster.withNode(RayLocalCluster.Node(slots: 1, cache: otherCache, label: "kind-b"))
            {
                _ in
                try await runKiln([
                    "run", matmul, "--executor", "ray", "--ray-address", cluster.address, "--evals", "6", "--seed", "3",
                    "--min-pairs", "2", "--max-pairs", "2", "--reference-kind", "kind-b", "--runs", runs.path,
                    "--cache-dir", cache.path,
                ])
            }
            #expect(result.exitCode == 0, "\(result.stderr)")
            let id = try #require(Fixtures.runIDs(in: runs).first)
            let journal = runs.appending(path: "\(id)/journal.sqlite")
            let raw = try await DatabaseQueue(path: journal.path).read { db in
                try Row.fetchAll(db, sql: "SELECT kind, payload FROM events ORDER BY seq").map {
                    row -> (String, Data) in
                    (row["kind"], row["payload"])
                }
            }
            let rows = raw.map { kind, payload in
                (kind, (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] ?? [:])
            }
            func label(_ payload: [String: Any]) -> String? {
                ((payload["result"] as? [String: Any])?["node"] as? [String: Any])?["label"] as? String
            }
            let finished = rows.filter { $0.0 == "evaluation_finished" }
            #expect(finished.count == 6)
            #expect(finished.allSatisfy { (($0.1["result"] as? [String: Any])?["node"]) != nil })
            let outcome = try #require(rows.last { $0.0 == "finished" }?.1["outcome"] as? [String: Any])
            #expect(outcome["reference_kind"] as? String == "kind-b", "\(outcome)")
            let winner = try #require(outcome["winner"] as? Int)
            // The winner's figure was taken on a kind-b node: its own evaluation, the end-of-run measurement
            // beside the runner-up, or a measurement of its own made for that.
            let measured = rows.filter { ($0.1["candidate"] as? Int) == winner }
                .filter { ["evaluation_finished", "remeasured", "winner_remeasured"].contains($0.0) }
            #expect(measured.contains { label($0.1) == "kind-b" }, "\(measured.map { ($0.0, label($0.1) ?? "-") })")
        }
    }

    @Test("kiln mcp --executor ray: a real MCP client's evaluations run on the cluster and record their node")
    func mcpOnCluster() async throws {
        let cluster = try shared().cluster
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let client = try await Subprocess.run(
                .name("python3"),
                arguments: [
                    Fixtures.file("mcp_client.py").path, Fixtures.kilnExecutable.path,
                    Fixtures.root.appending(path: "tasks").path, runs.path, cache.path,
                    Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c").path,
                    Fixtures.file("hostile/no_write.c").path, Fixtures.file("hostile/fork_child.c").path,
                    "--executor", "ray", "--ray-address", cluster.address,
                ],
                output: .string(limit: 1 << 20),
                error: .string(limit: 1 << 20)
            )
            #expect(client.terminationStatus.isSuccess, "\(client.standardOutput)\n\(client.standardError)")
            #expect(client.standardOutput.contains("check: evaluations are journaled in an mcp run"))
            let id = try #require(Fixtures.runIDs(in: runs).first)
            let events = try Self.events(runs.appending(path: "\(id)/journal.sqlite"))
            let finished = events.filter { $0.kind == "evaluation_finished" }
            #expect(finished.count >= 3)
            #expect(finished.allSatisfy { $0.node != nil }, "every evaluation ran on a node of the cluster")
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
            #expect(!result.stderr.contains("Fatal error"))
            #expect(Fixtures.runIDs(in: runs).isEmpty)
        }
    }

    @Test("a cluster without kiln_slot, then a node without the task's Python packages: each says so, exit 69")
    func unfitClusters() async throws {
        let ray = try #require(RayAvailability.rayCommand)
        let matmul = self.matmul
        let rmsnorm = Fixtures.taskFolder("rmsnorm-triton").path
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let environment = ProcessInfo.processInfo.environment
            try await RayLocalCluster.with([RayLocalCluster.Node(slots: 0)], ray: ray, environment: environment) {
                cluster in
                let noSlots = try await runKiln(
                    [
                        "run", matmul, "--executor", "ray", "--ray-address", cluster.address, "--evals", "1",
                        "--runs", runs.path, "--cache-dir", cache.path,
                    ]
                )
                #expect(noSlots.exitCode == 69)
                #expect(noSlots.stderr.contains("advertises no 'kiln_slot' resource"), "\(noSlots.stderr)")
                #expect(noSlots.stderr.contains("--resources='{\"kiln_slot\": 1}'"))
                #expect(Fixtures.runIDs(in: runs).isEmpty)
                // A node whose Kiln finds no Python with torch and triton (here, it has them).
                var bare = environment
                bare["KILN_PYTHON"] = folder.appending(path: "no-python").path
                let nodeCache = try await Fixtures.freshCache(in: folder.appending(path: "bare"))
                try await cluster.withNode(RayLocalCluster.Node(slots: 1, cache: nodeCache, environment: bare)) { _ in
                    let unfit = try await runKiln(
                        [
                            "run", rmsnorm, "--executor", "ray", "--ray-address", cluster.address, "--evals", "1",
                            "--runs", runs.path, "--cache-dir", cache.path,
                        ]
                    )
                    #expect(unfit.exitCode == 69)
                    // The node by its host and id, and what it lacks.
                    #expect(unfit.stderr.contains(") cannot evaluate: the Triton backend needs"), "\(unfit.stderr)")
                    #expect(unfit.stderr.contains("torch and triton"))
                    #expect(unfit.stderr.contains("kiln resume"))
                    #expect(!unfit.stderr.contains("Fatal error"))
                    // The run is kept, resumable, with nothing evaluated in it.
                    let id = try #require(Fixtures.runIDs(in: runs).first)
                    let events = try Self.events(runs.appending(path: "\(id)/journal.sqlite"))
                    #expect(Self.count("interrupted", in: events) == 1)
                    #expect(Self.count("evaluation_finished", in: events) == 0)
                }
            }
        }
    }

    // MARK: - Helpers

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

    /// Starts `kiln` and kills it with SIGKILL once `condition` holds (polled every 100 ms, for at most two
    /// minutes); returns whether it was killed (false when it ended first).
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
            for _ in 0..<1200 {
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

/// The loopback cluster ``RayExecutorTests`` share: a head and a worker, one `kiln_slot` each, each with its
/// own Kiln cache that already holds this machine's profile.
struct SharedRayCluster: Sendable {
    /// The cluster, while the suite runs.
    @TaskLocal static var current: SharedRayCluster?

    let cluster: RayLocalCluster
}

/// Starts ``SharedRayCluster`` once around the suite it is given to, and stops it after; the suite fails if
/// any of the cluster's processes outlive it.
struct RayClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        guard let ray = RayAvailability.rayCommand else { return try await function() }
        // The cluster loads every core for minutes: tests that compare the machine's load wait meanwhile.
        try await MachineLease.exclusively { try await withCluster(ray: ray, function) }
    }

    private func withCluster(ray: String, _ function: @Sendable () async throws -> Void) async throws {
        try await withTemporaryDirectory { folder in
            var nodes: [RayLocalCluster.Node] = []
            for index in 0..<2 {
                let cache = try await Fixtures.freshCache(in: folder.appending(path: "node-\(index)"))
                nodes.append(RayLocalCluster.Node(slots: 1, cache: cache))
            }
            let cluster = try await RayLocalCluster.with(
                nodes,
                ray: ray,
                environment: ProcessInfo.processInfo.environment
            ) { cluster in
                try await SharedRayCluster.$current.withValue(SharedRayCluster(cluster: cluster)) {
                    try await function()
                }
                return cluster
            }
            // Every node's process group was killed; give the last of them a moment to be reaped.
            var left = cluster.livePIDs
            for _ in 0..<100 where !left.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                left = cluster.livePIDs
            }
            if !left.isEmpty { throw RayClusterLeftovers(pids: left) }
        }
    }
}

/// Processes of the loopback cluster still alive after it was stopped.
struct RayClusterLeftovers: Error, CustomStringConvertible {
    let pids: [Int]
    var description: String { "the loopback Ray cluster left processes behind: \(pids)" }
}

extension Trait where Self == RayClusterTrait {
    /// A loopback Ray cluster shared by the suite's tests (see ``SharedRayCluster``).
    static var rayCluster: Self { Self() }
}
