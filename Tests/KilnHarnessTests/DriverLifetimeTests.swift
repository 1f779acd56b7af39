import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A C driver never outlives Kiln: when Kiln goes away mid-session (its end of the driver's output
/// closed), or the monitor itself is killed, the sandbox and the frozen worker in it end too.
@Suite(.timeLimit(.minutes(3)))
struct DriverLifetimeTests {
    /// The live processes whose program is `executable`: the monitor, and the sandbox's init it forks
    /// (which keeps the monitor's command line).
    static func processes(running executable: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard stat.split(separator: ")").last?.split(separator: " ").first != "Z",
                let command = try? Data(contentsOf: URL(filePath: "/proc/\(pid)/cmdline")),
                let program = command.split(separator: 0).first
            else { return false }
            return String(decoding: program, as: UTF8.self) == executable
        }
    }

    /// Starts the matmul baseline's driver for one shape in its own cache and sets up one call, asks for
    /// it when `calling`, runs `end` (how Kiln goes away), then waits up to 15 s for every process of the
    /// driver to end; returns those left (then killed).
    static func driver(calling: Bool, ending end: @escaping (Process, FileHandle) throws -> Void) async throws
        -> [Int32]
    {
        try await withTemporaryDirectory { folder in
            let cache = try await Fixtures.freshCache(in: folder)
            let task = try Fixtures.task("matmul")
            let logs = folder.appending(path: "logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let driver = try await TrustedDriver(
                .baseline,
                task: task,
                shape: try task.shapes(named: ["square-256"])[0],
                cache: cache,
                logs: logs
            )
            #expect(driver.line().hasPrefix("ready"))
            #expect(try driver.request("setup 7 0").hasPrefix("ok"))
            #expect(Self.processes(running: driver.executable).count >= 2, "the monitor and the sandbox's init")
            if calling { try driver.send("call 5000") }
            try end(driver.process, driver.reader)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(15)
            var left = Self.processes(running: driver.executable)
            while !left.isEmpty, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                left = Self.processes(running: driver.executable)
            }
            for pid in left { kill(pid, SIGKILL) }
            try? driver.writer.close()
            driver.process.waitUntilExit()
            return left
        }
    }

    @Test("Kiln gone mid-call (its end of the driver's output closed): the monitor ends the sandbox and its worker")
    func kilnGone() async throws {
        let left = try await Self.driver(calling: true) { _, reader in
            // The reply to the call finds nobody reading it.
            try reader.close()
        }
        #expect(left.isEmpty, "processes of the driver still alive: \(left)")
    }

    @Test("the monitor killed on its own: the sandbox's init and the worker in it end with it")
    func monitorKilled() async throws {
        let left = try await Self.driver(calling: false) { process, _ in
            kill(process.processIdentifier, SIGKILL)
        }
        #expect(left.isEmpty, "processes of the driver still alive: \(left)")
    }
}
