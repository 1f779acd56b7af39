import ArgumentParser
import Foundation
import KilnAgentRun
import KilnHarness
import KilnRun
import KilnSandbox
import KilnTask
import Logging

/// `kiln-bench`: benchmarks of Kiln itself, measured on this machine and printed with how they were
/// measured (never timed unit tests: machines are shared and noisy).
@main
struct KilnBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln-bench",
        abstract:
            "Benchmarks of Kiln itself: evaluation repeatability, tuner quality, agent endurance, dashboard load, Ray fan-out.",
        subcommands: [EvalBench.self, TunerBench.self, AgentBench.self, ServeBench.self, RayBench.self]
    )

    static func main() async {
        do {
            var command = try parseAsRoot()
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .warning
                return handler
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as TaskError {
            Terminal.error(error.description)
            Foundation.exit(65)
        } catch let error as HarnessError {
            Terminal.error(error.description)
            Foundation.exit(error.code == .sandboxUnavailable || error.code == .toolMissing ? 69 : 70)
        } catch let error as RunError {
            Terminal.error(error.description)
            Foundation.exit(70)
        } catch let error as AgentRunError {
            Terminal.error(error.description)
            Foundation.exit(64)
        } catch {
            exit(withError: error)
        }
    }
}

/// Where a benchmark keeps its builds, results and runs, and how it runs candidates.
struct BenchFolders: ParsableArguments {
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("The cache (default: .kiln/cache).", valueName: "dir"))
    var cacheDirectory = ".kiln/cache"

    @Option(name: .customLong("runs"), help: ArgumentHelp("The runs folder (default: .kiln/runs).", valueName: "dir"))
    var runsDirectory = ".kiln/runs"

    @Flag(name: .customLong("unsafe-no-sandbox"), help: "Run candidates without Kiln's sandbox (results say so).")
    var unsafeNoSandbox = false

    var cacheURL: URL { URL(filePath: cacheDirectory) }
    var store: RunStore { RunStore(root: URL(filePath: runsDirectory)) }
    var evaluator: Evaluator {
        Evaluator(cacheDirectory: cacheURL, sandboxMode: unsafeNoSandbox ? .unsafeNone : .isolated)
    }
}

/// The task a benchmark runs on: the bundled matmul by default, found from the working folder or beside
/// the executable's repository.
struct BenchTask: ParsableArguments {
    @Option(name: .customLong("task"), help: "The task folder (default: the bundled tasks/matmul).")
    var path: String?

    func folder() throws -> URL {
        if let path { return URL(filePath: path) }
        let candidates = [
            URL(filePath: FileManager.default.currentDirectoryPath).appending(path: "tasks/matmul"),
            Self.repository.appending(path: "tasks/matmul"),
        ]
        guard
            let found = candidates.first(where: {
                FileManager.default.fileExists(atPath: $0.appending(path: "task.toml").path)
            })
        else {
            throw ValidationError("cannot find the bundled tasks/matmul; pass --task FOLDER")
        }
        return found
    }

    /// The repository a built kiln-bench lives in (`.build/<config>/kiln-bench` two levels below it).
    static var repository: URL {
        URL(filePath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// The `kiln` executable built beside this one.
enum KilnExecutable {
    static func url() throws -> URL {
        let beside = URL(filePath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appending(path: "kiln")
        guard FileManager.default.isExecutableFile(atPath: beside.path) else {
            throw ValidationError("cannot find the kiln executable beside kiln-bench; build it with 'swift build'")
        }
        return beside
    }
}

/// Writing to the terminal.
enum Terminal {
    static func out(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
    static func error(_ text: String) { FileHandle.standardError.write(Data(("error: " + text + "\n").utf8)) }
    static var isInteractive: Bool { isatty(2) == 1 }
    static func progress(_ text: String) {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
    }
    static func clearProgress() {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
