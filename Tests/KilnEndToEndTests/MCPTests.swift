import Foundation
import KilnTesting
import Subprocess
import SystemPackage
import Testing

/// `kiln mcp` driven by the official MCP Python SDK (installed by .ci/run), over stdio.
@Suite(.timeLimit(.minutes(5)))
struct MCPTests {
    @Test("a real MCP client lists the tools, and evaluates a correct, a wrong and a hostile candidate")
    func pythonClient() async throws {
        let probe = try await Subprocess.run(
            .name("python3"),
            arguments: ["-c", "import mcp"],
            output: .discarded,
            error: .discarded
        )
        try #require(probe.terminationStatus.isSuccess, "the MCP Python SDK is missing: pip install mcp (.ci/run does)")
        try await withTemporaryDirectory { folder in
            let result = try await Subprocess.run(
                .name("python3"),
                arguments: [
                    Fixtures.file("mcp_client.py").path, Fixtures.kilnExecutable.path,
                    Fixtures.root.appending(path: "tasks").path,
                    folder.appending(path: "runs").path, Fixtures.sharedCache.path,
                    Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c").path,
                    Fixtures.file("hostile/no_write.c").path, Fixtures.file("hostile/fork_child.c").path,
                ],
                output: .string(limit: 1 << 20),
                error: .string(limit: 1 << 20)
            )
            #expect(result.terminationStatus.isSuccess, "\(result.standardOutput)\n\(result.standardError)")
            #expect(result.standardOutput.contains("check: evaluations are journaled in an mcp run"))
        }
    }
}
