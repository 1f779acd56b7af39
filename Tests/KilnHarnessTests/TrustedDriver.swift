import Foundation
import KilnHarness
import KilnTask
import KilnTesting

/// A trusted implementation's real driver for one shape, started as an evaluation starts it, and spoken to
/// by hand through its protocol (docs/BACKENDS.md).
final class TrustedDriver {
    let process = Process()
    /// The driver's executable (for finding its processes).
    let executable: String
    let reader: FileHandle
    let writer: FileHandle

    /// Starts the driver.
    /// - Parameters:
    ///   - role: the oracle or the baseline.
    ///   - task: the task.
    ///   - shape: the shape.
    ///   - cache: the cache folder.
    ///   - logs: an existing folder for the implementation's log.
    /// - Throws: when the task cannot be built here or the driver cannot be started.
    init(_ role: TrustedRole, task: KernelTask, shape: Shape, cache: URL, logs: URL) async throws {
        let command = try await Evaluator(cacheDirectory: cache)
            .driverCommand(for: role, task: task, shape: shape, logFolder: logs)
        executable = command.executable
        process.executableURL = URL(filePath: command.executable)
        process.arguments = command.arguments
        process.environment = command.environment
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        reader = output.fileHandleForReading
        writer = input.fileHandleForWriting
    }

    /// Reads one line of the driver's output.
    func line() -> String {
        var bytes: [UInt8] = []
        while true {
            let chunk = reader.readData(ofLength: 1)
            guard let byte = chunk.first, byte != UInt8(ascii: "\n") else { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends a command line (and its payload) without waiting for the reply.
    func send(_ command: String, payload: Data = Data()) throws {
        try writer.write(contentsOf: Data((command + "\n").utf8) + payload)
    }

    /// Sends a command line (and its payload) and reads the reply's line.
    func request(_ command: String, payload: Data = Data()) throws -> String {
        try send(command, payload: payload)
        return line()
    }

    /// Reads `count` raw bytes (what follows `out`'s reply), fewer at the end of the output.
    func bytes(_ count: Int) -> Data {
        var data = Data()
        while data.count < count {
            let chunk = reader.readData(ofLength: count - data.count)
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        return data
    }

    /// Ends the session (`quit`, or the end of its input) and waits for the driver to exit.
    func close() {
        try? send("quit")
        try? writer.close()
        process.waitUntilExit()
    }
}
