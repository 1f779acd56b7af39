import Foundation
import GRDB
import KilnTesting
import Testing

/// `kiln run`, `resume`, `runs` and `show` as a user runs them, including being killed.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct RunCommandTests {
    let matmul = Fixtures.taskFolder("matmul").path

    func arguments(runs: URL, cache: URL) -> [String] {
        [
            "run", matmul, "--evals", "8", "--seed", "11", "--min-pairs", "2", "--max-pairs",
            "2", "--runs", runs.path, "--cache-dir", cache.path,
        ]
    }

    /// (kind, candidate) of every journal event, in order.
    func events(_ journal: URL) throws -> [(kind: String, candidate: Int?)] {
        let queue = try DatabaseQueue(path: journal.path)
        return try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, payload FROM events ORDER BY seq").map { row in
                let payload: Data = row["payload"]
                let object = try JSONSerialization.jsonObject(with: payload) as? [String: Any]
                return (row["kind"], object?["candidate"] as? Int)
            }
        }
    }

    /// The leader and the runner-up measured again beside it at the end of a run, from its journal.
    func remeasured(_ journal: URL) throws -> [Int] {
        let queue = try DatabaseQueue(path: journal.path)
        return try queue.read { db in
            let payload: Data? = try Row.fetchOne(db, sql: "SELECT payload FROM events WHERE kind = 'remeasured'")?[
                "payload"
            ]
            let object = try payload.flatMap { try JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            return [object?["candidate"] as? Int, object?["rival"] as? Int].compactMap { $0 }
        }
    }

    /// The one run in a runs folder, which must be there.
    func onlyRun(in runs: URL) throws -> String {
        try #require(Fixtures.runIDs(in: runs).first)
    }

    @Test(
        "a run killed with SIGKILL at random moments and resumed loses and repeats nothing, and ends as an uninterrupted run does"
    )
    func durability() async throws {
        try await withTemporaryDirectory { folder in
            let cache = try await Fixtures.freshCache(in: folder)
            let killed = folder.appending(path: "killed")
            let straight = folder.appending(path: "straight")
            // The killed run does real work; kill it at random moments and resume it each time.
            var generator = SystemRandomNumberGenerator()
            var kills = 0
            var wasKilled = false
            // A kill before the run's folder exists leaves nothing to resume: start again, later
            // each time (a loaded machine can take seconds to start a debug build).
            for attempt in 0..<5 where Fixtures.runIDs(in: killed).isEmpty {
                wasKilled = try await runKilnAndKill(
                    arguments(runs: killed, cache: cache),
                    after: .milliseconds(Int.random(in: 400...2500, using: &generator) + attempt * 2000)
                )
            }
            if wasKilled { kills += 1 }
            while wasKilled, kills < 5, let runID = Fixtures.runIDs(in: killed).first {
                wasKilled = try await runKilnAndKill(
                    ["resume", runID, "--runs", killed.path, "--cache-dir", cache.path],
                    after: .milliseconds(Int.random(in: 400...2500, using: &generator))
                )
                if wasKilled { kills += 1 }
            }
            let runID = try onlyRun(in: killed)
            let final = try await runKiln(["resume", runID, "--runs", killed.path, "--cache-dir", cache.path])
            // The last kill may have landed after the run finished; then resume says so.
            #expect(final.exitCode == 0 || final.stderr.contains("already finished"), "\(final.stderr)")
            #expect(kills >= 1)
            // An uninterrupted run with the same seed, on the same measurements (the shared cache
            // answers every evaluation), must take exactly the same path.
            let reference = try await runKiln(arguments(runs: straight, cache: cache))
            #expect(reference.exitCode == 0, "\(reference.stderr)")
            let referenceEvents = try events(straight.appending(path: "\(try onlyRun(in: straight))/journal.sqlite"))
            let resumedEvents = try events(killed.appending(path: "\(runID)/journal.sqlite"))
            func finished(_ events: [(kind: String, candidate: Int?)]) -> [Int] {
                events.filter { $0.kind == "evaluation_finished" }.compactMap(\.candidate)
            }
            // No evaluation lost, none repeated: candidates 1...8, each finished exactly once.
            #expect(finished(resumedEvents) == Array(1...8))
            #expect(finished(referenceEvents) == Array(1...8))
            #expect(resumedEvents.filter { $0.kind == "candidate_created" }.count == 8)
            #expect(resumedEvents.filter { $0.kind == "finished" }.count == 1)
            #expect(resumedEvents.contains { $0.kind == "resumed" })
            // The same best and the same answer as the uninterrupted run.
            func last(_ kind: String, _ events: [(kind: String, candidate: Int?)]) -> Int? {
                events.last { $0.kind == kind }?.candidate
            }
            #expect(last("best_improved", resumedEvents) == last("best_improved", referenceEvents))
            // At the end the same leader is measured again beside the same runner-up. That measurement is
            // fresh (never from the cache), so its verdict, and with it which of the two is checked on the
            // held-out shapes first, may differ between the runs; the held-out winner is one of the two.
            let pair = try remeasured(straight.appending(path: "\(try onlyRun(in: straight))/journal.sqlite"))
            #expect(pair.count == 2)
            #expect(try remeasured(killed.appending(path: "\(runID)/journal.sqlite")) == pair)
            #expect(resumedEvents.filter { $0.kind == "remeasured" }.count == 1)
            for events in [resumedEvents, referenceEvents] {
                let heldout = events.filter { $0.kind == "heldout_checked" }.compactMap(\.candidate)
                #expect(heldout.first.map(pair.contains) == true, "\(heldout) \(pair)")
            }
            let candidates = { (events: [(kind: String, candidate: Int?)]) in
                events.filter { $0.kind == "best_improved" }.compactMap(\.candidate)
            }
            #expect(candidates(resumedEvents) == candidates(referenceEvents))

            let runs = try await runKiln(["runs", "--json", "--runs", killed.path])
            let list = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
            #expect(list.first?["id"] as? String == runID)
            #expect(list.first?["status"] as? String == "finished")
            #expect(list.first?["best_speedup"] is Double)
        }
    }

    @Test("a second writer of a run is refused and told who holds it")
    func locked() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            async let first = runKilnAndKill(
                ["run", matmul, "--time", "60s", "--min-pairs", "5", "--runs", runs.path, "--cache-dir", cache.path],
                after: .seconds(12)
            )
            var id: String? = nil
            for _ in 0..<100 where id == nil {
                try await Task.sleep(for: .milliseconds(100))
                id = Fixtures.runIDs(in: runs).first
            }
            let runID = try #require(id)
            try await Task.sleep(for: .milliseconds(300))
            let second = try await runKiln(["resume", runID, "--runs", runs.path, "--cache-dir", cache.path])
            #expect(second.exitCode == 75)
            #expect(second.stderr.contains("is being written by another Kiln process (pid"))
            _ = try await first
        }
    }

    @Test("show and report read a run's journal; unknown ids get a clear error")
    func showAndReport() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let result = try await runKiln(
                ["run", matmul, "--evals", "3", "--min-pairs", "2", "--max-pairs", "2", "--runs", runs.path]
                    + ["--cache-dir", Fixtures.sharedCache.path]
            )
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(result.stdout.contains("best speedup:"))
            let id = try onlyRun(in: runs)
            let show = try await runKiln(["show", id, "--runs", runs.path])
            #expect(show.stdout.contains("## Leaderboard"))
            let out = folder.appending(path: "r.html")
            let report = try await runKiln(["report", id, "--out", out.path, "--runs", runs.path])
            #expect(report.exitCode == 0)
            #expect(FileManager.default.fileExists(atPath: out.path))
            let unknown = try await runKiln(["show", "nope", "--runs", runs.path])
            #expect(unknown.exitCode == 66)
            #expect(unknown.stderr.contains("no run 'nope'"))
        }
    }
}

@Suite(.timeLimit(.minutes(5)))
struct InterruptTests {
    /// The processes that have `path` open.
    static func holders(of path: String) -> [pid_t] {
        let files = FileManager.default
        return ((try? files.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.filter { pid in
            ((try? files.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).contains { fd in
                (try? files.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == path
            }
        }
    }

    @Test("Ctrl-C stops a run cleanly: interrupted in the journal, a report written, resumable")
    func interrupt() async throws {
        try await withTemporaryDirectory { folder in
            let runs = folder.appending(path: "runs")
            let cache = try await Fixtures.freshCache(in: folder)
            let result = try await runKiln(
                [
                    "run", Fixtures.taskFolder("matmul").path, "--time", "2m", "--min-pairs", "5", "--runs", runs.path,
                    "--cache-dir", cache.path,
                ],
                signal: SIGINT,
                after: .seconds(6),
                when: { !((try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []).isEmpty }
            )
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(result.stdout.contains("interrupted after"))
            #expect(result.stdout.contains("kiln resume"))
            let id = try #require(try FileManager.default.contentsOfDirectory(atPath: runs.path).first)
            #expect(FileManager.default.fileExists(atPath: runs.appending(path: "\(id)/report.html").path))
            let list = try await runKiln(["runs", "--json", "--runs", runs.path])
            #expect(list.stdout.contains("\"status\" : \"interrupted\""))
        }
    }

    @Test("Ctrl-C before a run is made (Kiln waiting to probe the machine) exits 130, says so, and leaves no run")
    func interruptBeforeTheRun() async throws {
        try await withTemporaryDirectory { folder in
            // An empty cache must be probed first, and another holder of the probe's lock makes kiln wait.
            let cache = folder.appending(path: "cache")
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            let lock = open(cache.appending(path: "probe.lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            #expect(lock >= 0)
            defer { close(lock) }
            #expect(flock(lock, LOCK_EX) == 0)
            let runs = folder.appending(path: "runs")
            // The signal goes once kiln has the lock file open (it is waiting for it): sent earlier, while kiln
            // is still starting, it meets the default action and ends kiln without a word (a CI rehearsal).
            let lockPath = cache.appending(path: "probe.lock").path
            let me = getpid()
            let result = try await runKiln(
                [
                    "run", Fixtures.taskFolder("matmul").path, "--time", "2m", "--runs", runs.path, "--cache-dir",
                    cache.path,
                ],
                signal: SIGINT,
                after: .milliseconds(200),
                when: { Self.holders(of: lockPath).contains { $0 != me } }
            )
            #expect(result.exitCode == 130, "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("nothing to resume"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count <= 2, "\(result.stderr)")
            let made = (try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []
            #expect(made.isEmpty, "\(made)")
        }
    }
}
