package import Foundation
import Subprocess
import SystemPackage

/// What running the `kiln` executable produced.
package struct CommandResult: Sendable {
    /// The exit code (128 + signal when killed).
    package var exitCode: Int32
    /// Standard output.
    package var stdout: String
    /// Standard error.
    package var stderr: String
}

/// Runs the built `kiln` with arguments, in `directory`, and collects its output.
/// - Parameters:
///   - arguments: the arguments after `kiln`.
///   - directory: the working directory.
///   - environment: extra environment variables.
///   - wrapper: a program (by full path) and its arguments that start `kiln`, such as `setpriv --reuid 65533`.
/// - Returns: exit code and output.
/// - Throws: when the executable cannot be started.
package func runKiln(
    _ arguments: [String],
    in directory: URL? = nil,
    environment: [String: String] = [:],
    through wrapper: [String] = []
) async throws -> CommandResult {
    var updates: [Environment.Key: String?] = [:]
    for (key, value) in environment { updates[Environment.Key(stringLiteral: key)] = value }
    let executable: Executable =
        wrapper.first.map { .path(.init($0)) } ?? .path(.init(Fixtures.kilnExecutable.path))
    let all = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [Fixtures.kilnExecutable.path] + arguments
    let result = try await Subprocess.run(
        executable,
        arguments: Arguments(all),
        environment: .inherit.updating(updates),
        workingDirectory: directory.map { .init($0.path) },
        output: .string(limit: 4 << 20),
        error: .string(limit: 4 << 20)
    )
    let code: Int32 =
        switch result.terminationStatus {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    return CommandResult(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
}

/// Starts `kiln` with arguments and kills it with SIGKILL after `delay` (if it is still running).
/// - Parameters:
///   - arguments: the arguments after `kiln`.
///   - delay: how long to let it run.
///   - directory: the working directory.
/// - Returns: whether it was killed (false when it finished first).
/// - Throws: when it cannot be started.
package func runKilnAndKill(_ arguments: [String], after delay: Duration, in directory: URL? = nil) async throws -> Bool
{
    let killed = try await Subprocess.run(
        .path(.init(Fixtures.kilnExecutable.path)),
        arguments: Arguments(arguments),
        workingDirectory: directory.map { .init($0.path) },
        input: .none,
        output: .discarded,
        error: .discarded
    ) { execution in
        try? await Task.sleep(for: delay)
        do {
            try execution.send(signal: .kill)
            return true
        } catch {
            return false
        }
    }
    switch killed.terminationStatus {
    case .signaled(9): return true
    default: return false
    }
}

/// Starts `kiln` with arguments, sends it `signal` after `delay`, and collects its output.
/// - Parameters:
///   - arguments: the arguments after `kiln`.
///   - signal: the signal to send, such as SIGINT.
///   - delay: how long to let it run first.
///   - environment: variables to set or replace in its environment.
///   - ready: when given, the signal waits (after `delay`, at most a minute more) until this holds, so
///     that it reaches `kiln` at the moment a test means, whatever the machine's load.
/// - Returns: exit code and output.
/// - Throws: when it cannot be started.
package func runKiln(
    _ arguments: [String],
    signal: Int32,
    after delay: Duration,
    environment: [String: String] = [:],
    when ready: (@Sendable () -> Bool)? = nil
) async throws -> CommandResult {
    var updates: [Environment.Key: String?] = [:]
    for (key, value) in environment { updates[Environment.Key(stringLiteral: key)] = value }
    let result = try await Subprocess.run(
        .path(.init(Fixtures.kilnExecutable.path)),
        arguments: Arguments(arguments),
        environment: .inherit.updating(updates),
        input: .none,
        output: .string(limit: 4 << 20),
        error: .string(limit: 4 << 20)
    ) { execution in
        try? await Task.sleep(for: delay)
        if let ready {
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(60)
            while !ready(), clock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        }
        try? execution.send(signal: Signal(rawValue: signal))
    }
    let code: Int32 =
        switch result.terminationStatus {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    return CommandResult(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
}
