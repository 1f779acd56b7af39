import ArgumentParser
import Foundation
import KilnCore
import KilnRun
import KilnTask
import Subprocess
import SystemPackage

/// The second half of `kiln-bench serve`: does watching a run slow it? Measured the way a user
/// works: `kiln run` in one process, `kiln serve` in another, and `viewers` clients that do what the
/// run page's script does (follow the run's stream with `html=1`), each on its own connection, from
/// one curl process.
extension ServeBench {
    func measureViewers(task: KernelTask) async throws {
        let kiln = try KilnExecutable.url().path
        let root = folders.store.root
        let cacheRoot = folders.cacheURL
        let viewers = self.viewers
        let pairs = self.pairs
        let arguments = [
            "run", task.folder.path, "--evals", "12", "--min-pairs", "3", "--max-pairs", "3", "--seed", "3",
            "--strategy", "random", "--runs", root.path,
        ]
        /// One timed `kiln run` from a fresh cache (sharing the machine profile only), watched by
        /// `watchers` viewers once its folder appears; its wall time, seconds.
        func timedRun(port: Int, watchers: Int) async throws -> Double {
            let fresh = cacheRoot.appending(path: "bench-serve-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
            try? FileManager.default.copyItem(
                at: cacheRoot.appending(path: "probe.json"),
                to: fresh.appending(path: "probe.json")
            )
            defer { try? FileManager.default.removeItem(at: fresh) }
            let before = Set(folders.store.allIDs())
            let clock = ContinuousClock()
            let start = clock.now
            return try await withThrowingTaskGroup(of: Double?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(
                        .path(FilePath(kiln)),
                        arguments: Arguments(arguments + ["--cache-dir", fresh.path]),
                        output: .discarded,
                        error: .string(limit: 1 << 20)
                    )
                    guard result.terminationStatus.isSuccess else {
                        throw ValidationError("the benchmark's run failed: \(result.standardError)")
                    }
                    return (clock.now - start).inSeconds
                }
                if watchers > 0 {
                    var id: String?
                    let deadline = clock.now + .seconds(120)
                    while id == nil {
                        guard clock.now < deadline else {
                            throw ValidationError("the benchmark's run did not create its folder within 120 s")
                        }
                        try await Task.sleep(for: .milliseconds(20))
                        id = folders.store.allIDs().first { !before.contains($0) }
                    }
                    let url = "http://127.0.0.1:\(port)/api/runs/\(id ?? "")/stream?html=1"
                    // The viewers: one curl holding a connection per viewer (so that starting
                    // fifty processes does not weigh on the run), following the stream until the
                    // run is over and its task is cancelled, which kills it.
                    let transfers = (0..<watchers).flatMap { _ in ["-o", "/dev/null", url] }
                    group.addTask {
                        _ = try? await Subprocess.run(
                            .name("curl"),
                            arguments: Arguments(
                                ["-sN", "--parallel", "--parallel-immediate", "--parallel-max", "\(watchers)"]
                                    + transfers
                            ),
                            output: .discarded,
                            error: .discarded
                        )
                        return nil
                    }
                }
                var wall: Double?
                while wall == nil, let next = try await group.next() { wall = next }
                group.cancelAll()
                for try await _ in group {}
                return wall ?? 0
            }
        }

        let result = try await Subprocess.run(
            .path(FilePath(kiln)),
            arguments: ["serve", "--port", "0", "--runs", root.path],
            input: .none,
            output: .sequence,
            error: .discarded
        ) { execution -> String in
            var port: Int?
            for try await line in execution.standardOutput.strings() {
                if let match = line.firstMatch(of: /127\.0\.0\.1:(\d+)/) {
                    port = Int(match.output.1)
                    break
                }
            }
            guard let port else { throw ValidationError("kiln serve did not announce its port") }
            let server = execution.processIdentifier.value
            var alone: [Double] = []
            var watched: [Double] = []
            var serveCPU: [Double] = []
            // Interleaved in alternating order (alone first, then watched first), so that drift in
            // the machine's load falls on both sides alike.
            for pair in 0..<pairs {
                for watchedSide in pair % 2 == 0 ? [false, true] : [true, false] {
                    let cpuBefore = Self.cpuSeconds(of: server)
                    let wall = try await timedRun(port: port, watchers: watchedSide ? viewers : 0)
                    if watchedSide {
                        watched.append(wall)
                        serveCPU.append(Self.cpuSeconds(of: server) - cpuBefore)
                    } else {
                        alone.append(wall)
                    }
                }
                Terminal.out(
                    String(
                        format:
                            "pair %d: %.2f s alone, %.2f s watched by %d viewers (%+.1f%%); kiln serve used %.2f s CPU",
                        pair + 1,
                        alone[pair],
                        watched[pair],
                        viewers,
                        (watched[pair] / alone[pair] - 1) * 100,
                        serveCPU[pair]
                    )
                )
            }
            try execution.send(signal: .interrupt)
            let ratios = zip(watched, alone).map { $0 / $1 }.sorted()
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            return String(
                format:
                    "a 12-evaluation kiln run over %d interleaved pairs: median %.2f s alone, %.2f s watched by %d viewers; median per-pair change %+.1f%% (range %+.1f%% to %+.1f%%); kiln serve's CPU per watched run: median %.2f s",
                pairs,
                median(alone),
                median(watched),
                viewers,
                (median(ratios) - 1) * 100,
                ((ratios.first ?? 1) - 1) * 100,
                ((ratios.last ?? 1) - 1) * 100,
                median(serveCPU)
            )
        }
        Terminal.out(result.closureResult)
    }

    /// Fails plainly when curl (the viewers) is missing; Subprocess finds it on PATH.
    static func requireCurl() async throws {
        guard
            (try? await Subprocess.run(.name("curl"), arguments: ["--version"], output: .discarded))?
                .terminationStatus.isSuccess == true
        else {
            throw ValidationError("the viewer half of this benchmark needs curl on PATH (apt-get install curl)")
        }
    }

    /// A process's user and system CPU time so far, seconds (from /proc).
    static func cpuSeconds(of pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
