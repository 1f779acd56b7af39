package import Foundation
import KilnCore
package import Subprocess
import SystemPackage

/// Runs a short-lived program with a deadline and bounded output, in its own session; the whole process
/// group is killed when the deadline passes or the caller is cancelled.
package enum ProcessRunner {
    /// What a program did.
    package struct Output: Sendable {
        /// How it ended.
        package var status: TerminationStatus
        /// Its standard output and error, merged and capped.
        package var output: String
        /// True when Kiln killed it at its deadline.
        package var hasTimedOut: Bool
        /// True when it exited with status 0 in time.
        package var isSuccess: Bool { !hasTimedOut && status.isSuccess }
    }

    /// Platform options every Kiln child gets: its own session, and its whole process group killed on teardown.
    /// - Parameter grace: how long the group has after SIGKILL before Subprocess gives up on it.
    /// - Returns: the options.
    package static func sessionOptions(grace: Duration = .milliseconds(200)) -> PlatformOptions {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: grace)]
        return options
    }

    /// Runs `executable` with `arguments`; standard output and error are merged and capped.
    /// - Parameters:
    ///   - executable: a path, or a name looked up on `PATH`.
    ///   - arguments: its arguments.
    ///   - environment: its whole environment.
    ///   - timeout: when to kill its process group.
    ///   - directory: its working folder.
    ///   - outputLimit: the most bytes of output kept.
    /// - Returns: what it did.
    /// - Throws: ``SandboxError`` `.toolMissing` when it cannot be started, `.cancelled` when cancelled
    ///   (also when the program ended while cancelled: what a killed program reports is nobody's fault).
    package static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"],
        timeout: Duration,
        directory: URL? = nil,
        outputLimit: Int = 1 << 20
    ) async throws(SandboxError) -> Output {
        let configuration = Subprocess.Configuration(
            executable: executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
            arguments: Arguments(arguments),
            environment: .custom(Environment.Key.dictionary(environment)),
            workingDirectory: directory.map { FilePath($0.path) },
            platformOptions: sessionOptions()
        )
        do {
            let output = try await withDeadline(timeout) {
                let result = try await Subprocess.run(
                    configuration,
                    output: .bytes(limit: outputLimit),
                    error: .combinedWithOutput
                )
                let text = String(decoding: result.standardOutput, as: UTF8.self)
                return Output(status: result.terminationStatus, output: text, hasTimedOut: false)
            }
            // A run cut short by cancellation (Ctrl-C) reports that, never the failure the kill caused.
            if Task.isCancelled { throw SandboxError(.cancelled, "cancelled while running '\(executable)'") }
            return output ?? Output(status: .signaled(9), output: "", hasTimedOut: true)
        } catch let error as SandboxError {
            throw error
        } catch let error as SubprocessError where error.code == .outputLimitExceeded {
            return Output(status: .exited(1), output: "(output exceeded \(outputLimit) bytes)", hasTimedOut: false)
        } catch {
            if Task.isCancelled { throw SandboxError(.cancelled, "cancelled while running '\(executable)'") }
            throw SandboxError(
                .toolMissing,
                "could not run '\(executable)': is it installed and on PATH?",
                underlying: error
            )
        }
    }
}

extension Environment.Key {
    /// Subprocess's keys for a plain dictionary.
    package static func dictionary(_ values: [String: String]) -> [Environment.Key: String] {
        var keys: [Environment.Key: String] = [:]
        for (name, value) in values { keys[Environment.Key(stringLiteral: name)] = value }
        return keys
    }
}
