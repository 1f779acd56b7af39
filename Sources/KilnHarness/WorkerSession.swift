import Foundation
import KilnTask
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a worker answered to one command.
enum WorkerReply {
    /// `ok key=value ...`
    case ok([String: String])
    /// The driver refused the command.
    case error(String)
    /// The task's instance file stopped the driver.
    case taskError(String)
    /// The process ended (or was killed) before answering.
    case died
    /// `start t=T0`: the driver's clock just before a timed call.
    case startTime(Int64)
}

/// What a timed call answered.
enum TimedReply {
    /// Both replies, with Kiln's clock when it sent the command and when the second reply arrived.
    case timed(fields: [String: String], announcedStart: Int64, sent: Int64, received: Int64)
    /// Anything else the worker answered (or its death).
    case reply(WorkerReply)
    /// Lines that break the protocol.
    case outOfProtocol(String)
}

/// Limits and settings for one worker process.
struct WorkerLimits: Sendable {
    var memoryMB: Int
    var cpuSeconds: Int = 3600
    var logBytes: Int = 1 << 20
}

/// How a worker process ended, with whether Kiln killed it for running past a deadline.
struct WorkerEnd: Sendable {
    var status: TerminationStatus
    var hasTimedOut: Bool
    var log: String
}

/// One running worker (driver + instance + one implementation), driven over its pipes.
///
/// Not `Sendable`: a session belongs to the task that opened it.
final class WorkerSession {
    private let writer: StandardInputWriter
    private var iterator: SubprocessOutputSequence.Iterator
    private var buffer: [UInt8] = []
    private var cursor = 0
    private let processGroup: pid_t
    let timedOut = Flag()

    private init(writer: StandardInputWriter, output: SubprocessOutputSequence, processGroup: pid_t) {
        self.writer = writer
        self.iterator = output.makeAsyncIterator()
        self.processGroup = processGroup
    }

    /// Starts a worker for one shape, runs `body` with it, then kills its whole process group.
    static func with<R: Sendable>(
        executable: URL,
        shape: Shape,
        limits: WorkerLimits,
        logURL: URL,
        body: (WorkerSession) async throws -> R
    ) async throws -> (R, WorkerEnd) {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(100))
        ]
        let arguments = [
            "--shape", shape.driverSpec, "--memory-mb", String(limits.memoryMB), "--cpu-seconds",
            String(limits.cpuSeconds), "--log-bytes", String(limits.logBytes), "--log", logURL.path,
        ]
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(executable.path)),
            arguments: Arguments(arguments),
            environment: .custom(["OMP_WAIT_POLICY": "PASSIVE", "LC_ALL": "C"]),
            platformOptions: options
        )
        let timedOut = Flag()
        let result = try await Subprocess.run(
            configuration,
            input: .inputWriter,
            output: .sequence,
            error: .discarded
        ) { execution in
            let session = WorkerSession(
                writer: execution.standardInputWriter,
                output: execution.standardOutput,
                processGroup: execution.processIdentifier.value
            )
            defer {
                if session.timedOut.isSet { timedOut.set() }
                kill(-session.processGroup, SIGKILL)
            }
            return try await body(session)
        }
        let log = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        let end = WorkerEnd(status: result.terminationStatus, hasTimedOut: timedOut.isSet, log: log)
        return (result.closureResult, end)
    }

    /// Waits for the driver's `ready` line.
    func awaitReady(timeout: Duration) async -> WorkerReply {
        await reply(timeout: timeout)
    }

    /// Sends one command (and an optional payload) and waits for its reply line.
    func request(_ command: String, payload: [UInt8]? = nil, timeout: Duration) async -> WorkerReply {
        do {
            _ = try await writer.write(Array((command + "\n").utf8))
            if let payload { _ = try await writer.write(payload) }
        } catch {
            return .died
        }
        return await reply(timeout: timeout)
    }

    /// Sends `call` and reads its two replies: `start t=T0`, written before the implementation runs,
    /// and `ok ns=... start=T0 end=T1`. Kiln's own CLOCK_MONOTONIC readings around the exchange bound
    /// both times, so a candidate cannot report a time Kiln did not see pass.
    func timedCall(timeout: Duration) async -> TimedReply {
        let sent = Self.monotonicNanoseconds()
        switch await request("call", timeout: timeout) {
        case .ok(let fields):
            // Without a `start` line the reply is out of order: something else wrote to the protocol.
            return .outOfProtocol("the reply to 'call' came before its start time: \(fields)")
        case .startTime(let start):
            let answer = await reply(timeout: timeout)
            let received = Self.monotonicNanoseconds()
            guard case .ok(let fields) = answer else { return .reply(answer) }
            return .timed(fields: fields, announcedStart: start, sent: sent, received: received)
        case let other:
            return .reply(other)
        }
    }

    /// CLOCK_MONOTONIC in nanoseconds: the clock the driver uses, shared by every process.
    static func monotonicNanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// Reads exactly `count` raw bytes after a reply, or nil when the worker dies first.
    func readBytes(_ count: Int, timeout: Duration) async -> [UInt8]? {
        await withWatchdog(timeout) { () async -> [UInt8]? in
            while buffer.count - cursor < count {
                guard await fill() else { return nil }
            }
            let bytes = Array(buffer[cursor..<(cursor + count)])
            cursor += count
            compact()
            return bytes
        }
    }

    private func reply(timeout: Duration) async -> WorkerReply {
        let line = await withWatchdog(timeout) { () async -> String? in
            while true {
                if let newline = buffer[cursor...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[cursor..<newline], as: UTF8.self)
                    cursor = newline + 1
                    compact()
                    return line
                }
                guard await fill() else { return nil }
            }
        }
        guard let line else { return .died }
        if line.hasPrefix("ok") || line.hasPrefix("ready") { return .ok(Self.fields(line)) }
        if line.hasPrefix("start "), let time = Int64(Self.fields(line)["t"] ?? "") { return .startTime(time) }
        if line.hasPrefix("task-error ") { return .taskError(String(line.dropFirst("task-error ".count))) }
        if line.hasPrefix("error ") { return .error(String(line.dropFirst("error ".count))) }
        return .error("unexpected reply '\(line.prefix(200))'")
    }

    private static func fields(_ line: String) -> [String: String] {
        var fields: [String: String] = [:]
        for word in line.split(separator: " ") {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    /// Runs `operation`; if it has not finished by `timeout`, kills the worker's process group, which
    /// ends any pending read.
    private func withWatchdog<T>(_ timeout: Duration, _ operation: () async -> T) async -> T {
        let group = processGroup
        let flag = timedOut
        return await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                do {
                    try await Task.sleep(for: timeout)
                } catch {
                    return
                }
                flag.set()
                kill(-group, SIGKILL)
            }
            let result = await operation()
            tasks.cancelAll()
            return result
        }
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
        }
    }
}

/// A boolean that one task sets and another reads.
final class Flag: Sendable {
    private let state = Mutex(false)

    /// Whether ``set()`` was called.
    var isSet: Bool { state.withLock { $0 } }

    /// Sets the flag.
    func set() { state.withLock { $0 = true } }
}
