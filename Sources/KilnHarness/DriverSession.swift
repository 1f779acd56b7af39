import Foundation
import KilnCore
import KilnSandbox
import KilnTask
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How an implementation's worker ended, as its driver (or the sandbox's launcher) saw it.
struct WorkerDeath: Sendable, Hashable {
    /// How the process ended.
    enum Status: Sendable, Hashable {
        case exited(Int32)
        case signaled(Int32)
        /// The monitor lost it (the sandbox's init vanished).
        case lost
    }

    /// What was under way: `start-up`, `setup`, `call` or `freeze`.
    var phase: String
    var status: Status
    /// The forbidden system call's number, when the allowlist ended it.
    var syscall: Int?
}

/// What a driver answered to one command (docs/BACKENDS.md).
enum DriverReply {
    /// `ok key=value ...` (and `ready ...`).
    case ok([String: String])
    /// Kiln's own failure (no sandbox, the worker could not start) or a refused command.
    case error(String)
    /// The task's instance file stopped the driver.
    case taskError(String)
    /// The implementation raised (`raised TYPE: MESSAGE`).
    case raised(String)
    /// The implementation broke a rule its driver checks (`violation REASON`).
    case violation(String)
    /// The implementation's worker died (the C monitor's report, or the sandbox launcher's at the
    /// driver's end).
    case dead(WorkerDeath)
    /// The call passed its deadline; the worker and its sandbox were killed. Nanoseconds waited.
    case timeout(Int64)
    /// The driver stopped answering (Kiln killed it) or ended without a word.
    case lost
}

/// One running driver (Kiln's C monitor, or a backend's driver such as the Triton one) for one
/// implementation on one shape, driven over pipes.
///
/// The session bounds what it reads, whatever the driver: each byte is scanned once for a newline, a
/// reply line is at most 64 KiB, and every request has a deadline after which the driver's whole
/// process group (and with it the worker's sandbox) is killed.
///
/// Not `Sendable`: a session belongs to the task that opened it.
final class DriverSession {
    private let writer: StandardInputWriter
    private var iterator: SubprocessOutputSequence.Iterator
    private var buffer: [UInt8] = []
    private var cursor = 0
    private var scanned = 0
    private let processGroup: pid_t
    private static let maxLine = 1 << 16

    private init(writer: StandardInputWriter, output: SubprocessOutputSequence, processGroup: pid_t) {
        self.writer = writer
        self.iterator = output.makeAsyncIterator()
        self.processGroup = processGroup
    }

    /// Starts a driver, runs `body` with it, then kills its process group.
    static func with<R: Sendable>(
        _ launch: DriverLaunch,
        body: (DriverSession) async throws -> R
    ) async throws -> R {
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(launch.executable)),
            arguments: Arguments(launch.arguments),
            environment: .custom(Environment.Key.dictionary(launch.environment)),
            platformOptions: ProcessRunner.sessionOptions(grace: .milliseconds(100))
        )
        let result = try await Subprocess.run(
            configuration,
            input: .inputWriter,
            output: .sequence,
            error: .discarded
        ) { execution in
            let session = DriverSession(
                writer: execution.standardInputWriter,
                output: execution.standardOutput,
                processGroup: execution.processIdentifier.value
            )
            defer { kill(-session.processGroup, SIGKILL) }
            return try await body(session)
        }
        return result.closureResult
    }

    /// Starts a driver when there is a launch, runs `body` with it (or with nil), then kills its process group.
    static func withOptional<R: Sendable>(
        _ launch: DriverLaunch?,
        body: (DriverSession?) async throws -> R
    ) async throws -> R {
        guard let launch else { return try await body(nil) }
        return try await with(launch) { try await body($0) }
    }

    /// Waits for the driver's `ready` line.
    func awaitReady(timeout: Duration) async -> DriverReply {
        await reply(timeout: timeout)
    }

    /// Sends one command (and an optional payload) and waits for its reply line.
    func request(_ command: String, payload: [UInt8]? = nil, timeout: Duration) async -> DriverReply {
        do {
            _ = try await writer.write(Array((command + "\n").utf8))
            if let payload { _ = try await writer.write(payload) }
        } catch {
            return .lost
        }
        return await reply(timeout: timeout)
    }

    /// Reads exactly `count` raw bytes after a reply, or nil when the driver ends first.
    func readBytes(_ count: Int, timeout: Duration) async -> [UInt8]? {
        await withWatchdog(timeout) { () async -> [UInt8]? in
            while buffer.count - cursor < count {
                guard await fill() else { return nil }
            }
            let bytes = Array(buffer[cursor..<(cursor + count)])
            cursor += count
            scanned = cursor
            compact()
            return bytes
        }
    }

    private func reply(timeout: Duration) async -> DriverReply {
        let line = await withWatchdog(timeout) { () async -> String? in
            while true {
                if let newline = buffer[max(scanned, cursor)...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[cursor..<newline], as: UTF8.self)
                    cursor = newline + 1
                    scanned = cursor
                    compact()
                    // The sandbox launcher starts its report of a driver's end on a line of its own.
                    if line.isEmpty { continue }
                    return line
                }
                scanned = buffer.count
                if buffer.count - cursor > Self.maxLine { return nil }
                guard await fill() else { return nil }
            }
        }
        guard let line else { return .lost }
        return Self.parse(line)
    }

    static func parse(_ line: String) -> DriverReply {
        if line.hasPrefix("ok") || line.hasPrefix("ready") { return .ok(fields(line)) }
        if line.hasPrefix("task-error ") { return .taskError(String(line.dropFirst("task-error ".count))) }
        if line.hasPrefix("error ") { return .error(String(line.dropFirst("error ".count))) }
        if line.hasPrefix("raised ") { return .raised(String(line.dropFirst("raised ".count))) }
        if line.hasPrefix("violation ") { return .violation(String(line.dropFirst("violation ".count))) }
        if line.hasPrefix("timeout") { return .timeout(Int64(fields(line)["ns"] ?? "") ?? 0) }
        if line.hasPrefix("dead") {
            let f = fields(line)
            let status = f["status"] ?? ""
            let code = Int32(status.split(separator: ":").last ?? "") ?? -1
            let parsed: WorkerDeath.Status =
                status.hasPrefix("signal:") ? .signaled(code) : status.hasPrefix("exit:") ? .exited(code) : .lost
            return .dead(
                WorkerDeath(phase: f["phase"] ?? "", status: parsed, syscall: f["syscall"].flatMap { Int($0) })
            )
        }
        return .error("unexpected reply from the driver '\(line.prefix(200))'")
    }

    private static func fields(_ line: String) -> [String: String] {
        var fields: [String: String] = [:]
        for word in line.split(separator: " ") {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    /// Runs `operation`; if it has not finished by `timeout`, kills the driver's process group, which
    /// ends any pending read.
    private func withWatchdog<T>(_ timeout: Duration, _ operation: () async -> T) async -> T {
        let group = processGroup
        return await KilnCore.withWatchdog(timeout, onTimeout: { kill(-group, SIGKILL) }, operation)
    }

    private func fill() async -> Bool {
        do {
            guard let chunk = try await iterator.next() else { return false }
            chunk.withUnsafeBytes { buffer.append(contentsOf: $0) }
            return true
        } catch {
            return false
        }
    }

    private func compact() {
        if cursor > 1 << 20 || cursor == buffer.count {
            buffer.removeFirst(cursor)
            cursor = 0
            scanned = 0
        }
    }
}
