import Crypto
package import Foundation
import Subprocess
import Synchronization

#if !os(Linux)
#error("Kiln runs on Linux only: its sandbox is made of Linux namespaces and seccomp")
#endif

/// Kiln's sandbox: the `kiln-jail` launcher, built from the C source Kiln ships, and the mode it runs in.
///
/// In `.isolated` mode (the default) every untrusted program runs in new user, PID, mount, IPC, network,
/// UTS and cgroup namespaces, as an unprivileged user with no capabilities, seeing only what its ``Jail``
/// names. `.unsafeNone` (`--unsafe-no-sandbox`) keeps the limits and drops the namespaces, for machines
/// where namespaces cannot be made; every result made that way says so.
package struct Sandbox: Sendable {
    /// How untrusted programs run.
    package enum Mode: String, Sendable, Hashable, Codable {
        /// In namespaces, as an unprivileged user (the default).
        case isolated
        /// Without namespaces: limits only. Results say so.
        case unsafeNone = "unsafe_none"
    }

    /// How untrusted programs run.
    package var mode: Mode
    /// The launcher executable.
    package var launcher: URL

    /// The launcher's exit status when it could not make the sandbox.
    package static let launcherFailureStatus: Int32 = 125

    /// The folder holding the C sources (`kiln_jail.c`, `kiln_jail.h`), for programs that link the jail.
    /// - Returns: the folder.
    /// - Throws: ``SandboxError`` `.internal` when the resources are missing.
    package static func sourceDirectory() throws(SandboxError) -> URL {
        guard let url = Bundle.module.url(forResource: "c", withExtension: nil) else {
            throw SandboxError(.internal, "Kiln's sandbox sources are missing next to the executable; rebuild Kiln")
        }
        return url
    }

    /// A hash of the jail's sources, for build caches.
    /// - Returns: the hex SHA-256.
    /// - Throws: ``SandboxError`` when the sources cannot be read.
    package static func sourceHash() throws(SandboxError) -> String {
        var hasher = SHA256()
        let folder = try sourceDirectory()
        for name in ["kiln_jail.c", "kiln_jail.h"] {
            do {
                hasher.update(data: try Data(contentsOf: folder.appending(path: name)))
            } catch {
                throw SandboxError(.internal, "cannot read Kiln's \(name)", underlying: error)
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Builds (or reuses) the launcher in `cacheDirectory` and returns the sandbox.
    /// - Parameters:
    ///   - cacheDirectory: the cache folder; the launcher goes under `build/`.
    ///   - mode: how untrusted programs will run.
    ///   - compiler: the C compiler that builds the launcher (trusted source).
    /// - Returns: the sandbox.
    /// - Throws: ``SandboxError`` when the launcher cannot be built.
    package static func prepare(cacheDirectory: URL, mode: Mode, compiler: String = "gcc") async throws(SandboxError)
        -> Sandbox
    {
        let key = try sourceHash()
        let folder = cacheDirectory.appending(path: "build/jail-\(key.prefix(24))")
        let launcher = folder.appending(path: "kiln-jail")
        if FileManager.default.isExecutableFile(atPath: launcher.path) {
            return Sandbox(mode: mode, launcher: launcher)
        }
        let scratch = cacheDirectory.appending(path: "build/tmp-jail-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            throw SandboxError(.io, "cannot create \(scratch.path); is the cache folder writable?", underlying: error)
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let source = try sourceDirectory().appending(path: "kiln_jail.c")
        let build = try await ProcessRunner.run(
            compiler,
            ["-O2", "-DKILN_JAIL_MAIN", source.path, "-o", "kiln-jail"],
            timeout: .seconds(120),
            directory: scratch
        )
        guard build.isSuccess else {
            throw SandboxError(
                .toolMissing,
                "cannot build Kiln's sandbox launcher with '\(compiler)':\n\(build.output)"
            )
        }
        do {
            try FileManager.default.createDirectory(
                at: folder.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try FileManager.default.moveItem(at: scratch, to: folder)
        } catch {
            if !FileManager.default.isExecutableFile(atPath: launcher.path) {
                throw SandboxError(.io, "cannot write the sandbox launcher at \(folder.path)", underlying: error)
            }
        }
        return Sandbox(mode: mode, launcher: launcher)
    }

    private static let checks = Mutex<[String: String?]>([:])

    /// Why no sandbox can be made here, or nil when one can (checked once per launcher and process).
    /// Always nil in `.unsafeNone` mode. A check cut short by cancellation is no answer: it is not
    /// remembered, and it throws, so a Ctrl-C during the check is never reported as "no sandbox here".
    /// - Returns: the reason, or nil.
    /// - Throws: ``SandboxError`` `.cancelled` when cancelled before the check finished.
    package func unavailability() async throws(SandboxError) -> String? {
        guard mode == .isolated else { return nil }
        if let known = Self.checks.withLock({ $0[launcher.path] }) { return known }
        let reason: String?
        do throws(SandboxError) {
            let result = try await ProcessRunner.run(launcher.path, ["--check"], timeout: .seconds(30))
            reason =
                result.isSuccess
                ? nil
                : result.output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(
                    of: "unavailable: ",
                    with: ""
                )
        } catch  where error.code == .cancelled {
            throw error
        } catch {
            reason = "\(error)"
        }
        Self.checks.withLock { $0[launcher.path] = reason }
        return reason
    }

    /// Throws unless untrusted programs can run in this mode here.
    /// - Throws: ``SandboxError`` `.unavailable` saying why and what to do; `.cancelled` when cancelled.
    package func requireAvailable() async throws(SandboxError) {
        guard let reason = try await unavailability() else { return }
        throw SandboxError(
            .unavailable,
            "Kiln runs untrusted code only inside a sandbox, and none can be made here: \(reason). Allow unprivileged user namespaces (for example sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0), or pass --unsafe-no-sandbox to run without one (every result then says so)"
        )
    }

    /// The launcher's full argument list for `program` in `jail`.
    /// - Parameters:
    ///   - program: a path inside the jail, or a name found on the jail's `PATH`.
    ///   - arguments: its arguments.
    ///   - jail: what it may see and use.
    /// - Returns: the launcher's arguments.
    package func launcherArguments(_ program: String, _ arguments: [String], jail: Jail) -> [String] {
        (mode == .unsafeNone ? ["--unsafe-no-sandbox"] : []) + jail.launcherArguments + ["--", program] + arguments
    }

    /// Runs `program` inside `jail` with a deadline and bounded, merged output.
    /// - Parameters:
    ///   - program: a path inside the jail, or a name found on the jail's `PATH`.
    ///   - arguments: its arguments.
    ///   - jail: what it may see and use.
    ///   - timeout: when to kill it (its whole sandbox goes with it).
    ///   - outputLimit: the most bytes of output kept.
    /// - Returns: what it did; a launcher that could not make the sandbox exits with ``launcherFailureStatus``.
    /// - Throws: ``SandboxError`` when the launcher cannot be started or the sandbox cannot be made.
    package func run(
        _ program: String,
        _ arguments: [String],
        jail: Jail,
        timeout: Duration,
        outputLimit: Int = 1 << 20
    ) async throws(SandboxError) -> ProcessRunner.Output {
        let result = try await ProcessRunner.run(
            launcher.path,
            launcherArguments(program, arguments, jail: jail),
            environment: ["LC_ALL": "C"],
            timeout: timeout,
            outputLimit: outputLimit
        )
        // The launcher's own failure is its only output: a line of its own, before the program ever ran.
        let lines = result.output.split(separator: "\n")
        if case .exited(Self.launcherFailureStatus) = result.status, lines.count == 1,
            let line = lines.first, line.hasPrefix("kiln-jail: ")
        {
            throw SandboxError(.unavailable, "cannot sandbox '\(program)': \(line.dropFirst("kiln-jail: ".count))")
        }
        return result
    }
}
