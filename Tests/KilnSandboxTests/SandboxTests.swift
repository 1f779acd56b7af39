import Foundation
import KilnSandbox
import KilnTesting
import Subprocess
import Testing

/// Kiln's jail on its own: what a program inside sees, the limits it runs under, and how it ends.
@Suite(.timeLimit(.minutes(2)))
struct SandboxTests {
    /// A deadline for a trivial program that no honest run reaches, even in the suite's first seconds, when
    /// every test builds at once and a two-command shell has been seen to take over 10 s.
    static let ample: Duration = .seconds(30)

    static func shell(
        _ command: String,
        mounts: [Jail.Mount] = [.system, .devNull],
        timeout: Duration = Self.ample,
        configure: (inout Jail) -> Void = { _ in }
    ) async throws -> ProcessRunner.Output {
        var jail = Jail(mounts: mounts, environment: ["PATH": "/usr/bin:/bin"])
        configure(&jail)
        return try await Fixtures.sandbox().run("/bin/sh", ["-c", command], jail: jail, timeout: timeout)
    }

    @Test("namespaces can be made here, or Kiln's tests could not run")
    func available() async throws {
        let sandbox = try await Fixtures.sandbox()
        #expect(try await sandbox.unavailability() == nil)
    }

    @Test("a check cut short by Ctrl-C is a cancellation, not 'no sandbox here', and is not remembered")
    func cancelledCheck() async throws {
        try await withTemporaryDirectory { folder in
            // A launcher of its own, so its check has not been made (and remembered) by another test.
            let sandbox = try await Sandbox.prepare(cacheDirectory: folder, mode: .isolated)
            let check = Task {
                try? await Task.sleep(for: .seconds(60))
                return try await sandbox.unavailability()
            }
            check.cancel()
            let error = await #expect(throws: SandboxError.self) { try await check.value }
            #expect(error?.code == .cancelled, "\(String(describing: error))")
            #expect(try await sandbox.unavailability() == nil)
        }
    }

    @Test("a program sees only the system, read-only, and what it was given: no host /proc, no home, no Kiln file")
    func view() async throws {
        let result = try await Self.shell(
            "ls /; echo ---; ls /proc 2>&1 | head -1; ls /root 2>&1; touch /usr/x 2>&1; touch /y 2>&1; "
                + "cat \(Fixtures.sharedCache.path)/probe.json 2>&1 | head -1; id -u; hostname"
        )
        #expect(result.isSuccess, "\(result.output)")
        let listing = result.output.components(separatedBy: "---")[0].split(separator: "\n").map(String.init)
        #expect(
            Set(listing).isSubset(of: ["bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "usr"]),
            "\(listing)"
        )
        #expect(result.output.contains("Read-only file system"), "\(result.output)")
        #expect(!result.output.contains("kiln-mac-v1"), "\(result.output)")
        #expect(result.output.contains("65534"), "\(result.output)")
        #expect(result.output.contains("kiln-sandbox"), "\(result.output)")
    }

    @Test("a writable mount is the only place a program can write, and its own /proc shows only its processes")
    func writableAndProc() async throws {
        try await withTemporaryDirectory { folder in
            let result = try await Self.shell(
                "echo made > /scratch/out.txt && ls /proc | grep -c '^[0-9]'",
                mounts: [.system, .devNull, .proc, .writable(folder, at: "/scratch")]
            )
            #expect(result.isSuccess, "\(result.output)")
            #expect(try String(contentsOf: folder.appending(path: "out.txt"), encoding: .utf8) == "made\n")
            let processes = Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99
            #expect(processes < 6, "\(result.output)")
        }
    }

    @Test("limits hold inside: address space, file size, and no network")
    func limits() async throws {
        let result = try await Self.shell("ulimit -v; ulimit -f; (exec 3<>/dev/tcp/127.0.0.1/22) 2>&1; echo done") {
            $0.memoryMB = 512
            $0.fileMB = 8
        }
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first == String(512 * 1024), "\(result.output)")
        #expect(lines.dropFirst().first == String(8 * 1024 * 2), "\(result.output)")
        #expect(result.output.contains("done"))
    }

    @Test("a program that fails is a result; one that does not exist exits 127; neither throws")
    func failures() async throws {
        let failed = try await Self.shell("exit 3")
        #expect(failed.status == .exited(3))
        let missing = try await Fixtures.sandbox().run(
            "/no/such/program",
            [],
            jail: Jail(mounts: [.system, .devNull]),
            timeout: Self.ample
        )
        #expect(!missing.hasTimedOut, "a missing program took \(Self.ample): the machine is swamped")
        #expect(missing.status == .exited(127), "\(missing.output)")
        #expect(missing.output.contains("cannot run"))
    }

    @Test("a program past its deadline is killed with its whole sandbox")
    func deadline() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await Self.shell("sleep 120.5123 & sleep 120.5123", timeout: .seconds(1))
        #expect(result.hasTimedOut)
        // Well under the 120.5 s a surviving sleep would take, with room for a machine busy with other
        // tests (27 s were seen in the suite's first minute, when every test builds and starts at once).
        #expect(clock.now - start < .seconds(60))
        // Nothing of it is left on the host (the sandbox's PID namespace died with its init).
        let deadline = clock.now + .seconds(5)
        func leftovers() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
                let line = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                return line.contains("120.5123")
            }.count
        }
        while leftovers() > 0, clock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(leftovers() == 0)
    }

    @Test("without namespaces (--unsafe-no-sandbox) the limits still hold and the host is visible")
    func unsafe() async throws {
        var jail = Jail(mounts: [.system, .devNull], environment: ["PATH": "/usr/bin:/bin"])
        jail.memoryMB = 256
        let result = try await Fixtures.sandbox(.unsafeNone).run(
            "/bin/sh",
            ["-c", "ulimit -v; test -d /proc/1 && echo host"],
            jail: jail,
            timeout: Self.ample
        )
        #expect(!result.hasTimedOut, "a shell's two commands took \(Self.ample): the machine is swamped")
        #expect(result.output.contains(String(256 * 1024)), "\(result.output)")
        #expect(result.output.contains("host"))
    }
}
