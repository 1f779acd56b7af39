import Foundation
import Subprocess
import SystemPackage

/// Runs a short-lived trusted tool (the compiler, readelf, the probe) with a deadline and bounded output.
enum CommandRunner {
    struct Output: Sendable {
        var status: TerminationStatus
        var output: String
        var hasTimedOut: Bool
        var isSuccess: Bool { !hasTimedOut && status.isSuccess }
    }

    /// Runs `executable` with `arguments`; stdout and stderr are merged and capped.
    static func run(
        _ executable: String,
        _ arguments: [String],
        timeout: Duration,
        directory: URL? = nil,
        outputLimit: Int = 1 << 20
    ) async throws(HarnessError) -> Output {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(200))
        ]
        let configuration = Subprocess.Configuration(
            executable: executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
            arguments: Arguments(arguments),
            environment: .custom(["PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"]),
            workingDirectory: directory.map { FilePath($0.path) },
            platformOptions: options
        )
        do {
            return try await withThrowingTaskGroup(of: Output?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(
                        configuration,
                        output: .bytes(limit: outputLimit),
                        error: .combinedWithOutput
                    )
                    let text = String(decoding: result.standardOutput, as: UTF8.self)
                    return Output(status: result.terminationStatus, output: text, hasTimedOut: false)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let output = first else {
                    return Output(status: .signaled(9), output: "", hasTimedOut: true)
                }
                return output
            }
        } catch let error as SubprocessError where error.code == .outputLimitExceeded {
            return Output(status: .exited(1), output: "(output exceeded \(outputLimit) bytes)", hasTimedOut: false)
        } catch {
            if Task.isCancelled { throw HarnessError(.cancelled, "cancelled while running '\(executable)'") }
            throw HarnessError(
                .toolMissing,
                "could not run '\(executable)': is it installed and on PATH?",
                underlying: error
            )
        }
    }
}
