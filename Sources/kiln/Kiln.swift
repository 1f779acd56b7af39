import ArgumentParser
import Foundation
import KilnAgent
import KilnHarness
import KilnModelServer
import KilnRun
import KilnTask
import Logging

@main
struct Kiln: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "An autonomous kernel engineer: builds, checks and times kernels against an oracle and a baseline.",
        version: KilnVersion.current,
        subcommands: [
            RunCommand.self, ResumeCommand.self, RunsCommand.self, ShowCommand.self, ReportCommand.self,
            EvalCommand.self,
            ProbeCommand.self, ServeCommand.self, MCPCommand.self, DevCommand.self, EvalBundleCommand.self,
        ]
    )

    static func main() async {
        do {
            var command = try parseAsRoot()
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel =
                    ProcessInfo.processInfo.environment["KILN_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
                    ?? .warning
                return handler
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let (message, code) = ExitCodes.report(error) {
                Terminal.error(message)
                Foundation.exit(code)
            }
            exit(withError: error)
        }
    }
}

enum KilnVersion {
    static let current = "0.1.0"
}
