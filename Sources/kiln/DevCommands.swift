import ArgumentParser
import Foundation
import KilnModelServer

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Tools for developing and testing Kiln.",
        subcommands: [ModelServerCommand.self]
    )
}

struct ModelServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-server",
        abstract: "Serve a scripted model on loopback (OpenAI chat completions and Anthropic messages) until Ctrl-C.",
        discussion:
            "The script format is in docs/SCRIPTED_MODEL.md. Point a run at it with --base-url http://127.0.0.1:PORT/v1."
    )

    @Argument(help: "The script (JSON).")
    var script: String

    @Option(name: .long, help: "The port (default: any free port).")
    var port: Int = 0

    func run() async throws {
        let loaded = try ModelScript.load(from: URL(filePath: script))
        try await ScriptedModelServer.serve(script: loaded, port: port) { bound in
            Terminal.out(
                "scripted model server on http://127.0.0.1:\(bound)/v1 (OpenAI) and http://127.0.0.1:\(bound) (Anthropic); Ctrl-C stops it"
            )
        }
    }
}
