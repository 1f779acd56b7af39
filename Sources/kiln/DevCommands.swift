import ArgumentParser
import Foundation
import KilnHarness
import KilnModelServer
import KilnTask

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Tools for developing and testing Kiln.",
        subcommands: [ModelServerCommand.self, CheckDriverCommand.self]
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

struct CheckDriverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-driver",
        abstract: "Check that a driver speaks Kiln's driver protocol (docs/BACKENDS.md).",
        discussion: """
            With --task, checks the driver Kiln runs for that task's backend here (its oracle, on the first \
            suite shape or --shape). After --, checks any driver command, its shape included, for example: \
            kiln dev check-driver -- python3 my_driver.py --role oracle --task tasks/t --implementation \
            tasks/t/oracle.py --shape 'name=small;n=64'. Exits 0 when every check passes, 1 otherwise.
            """
    )

    @Option(name: .long, help: "A task folder: check the driver of its backend.")
    var task: String?

    @Option(name: .long, help: "The shape to drive (with --task).")
    var shape: String?

    @OptionGroup var cache: CacheOptions
    @OptionGroup var sandbox: SandboxOptions

    @Argument(parsing: .postTerminator, help: "A driver command and its arguments.")
    var command: [String] = []

    func validate() throws {
        if (task == nil) == command.isEmpty {
            throw ValidationError("give either --task TASK or -- COMMAND ARGUMENTS...")
        }
    }

    func run() async throws {
        let findings: [DriverConformance.Finding]
        if let task {
            let evaluator = Evaluator(cacheDirectory: cache.cacheURL, sandboxMode: sandbox.mode)
            let loaded = try await evaluator.prepare(try KernelTask.load(from: URL(filePath: task))).task
            let shape = try loaded.shapes(named: self.shape.map { [$0] } ?? []).first ?? loaded.suite[0]
            findings = try await evaluator.conformance(of: loaded, shape: shape)
        } else {
            findings = await DriverConformance.check(command: command)
        }
        for finding in findings { Terminal.out(finding.description) }
        let failed = findings.filter { !$0.passed }.count
        Terminal.out(
            failed == 0
                ? "the driver passes all \(findings.count) checks" : "\(failed) of \(findings.count) checks failed"
        )
        if failed > 0 { throw ExitCode(1) }
    }
}
