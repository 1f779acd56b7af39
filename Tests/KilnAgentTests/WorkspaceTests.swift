import Foundation
import KilnAgent
import KilnSandbox
import KilnTesting
import Testing

@Suite struct WorkspaceTests {
    @Test(
        "paths that would leave the workspace are refused",
        arguments: ["/etc/passwd", "../outside.c", "a/../../b", "~/x", "ok/../../../etc"]
    )
    func escapes(path: String) async throws {
        try await withTemporaryDirectory { folder in
            let workspace = Workspace(root: folder)
            #expect(throws: Workspace.Failure.self) { try workspace.resolve(path) }
        }
    }

    @Test("symbolic links are not followed")
    func symlinks() async throws {
        try await withTemporaryDirectory { folder in
            try FileManager.default.createSymbolicLink(
                atPath: folder.appending(path: "link").path,
                withDestinationPath: "/etc"
            )
            let workspace = Workspace(root: folder)
            let error = try #require(throws: Workspace.Failure.self) { try workspace.read("link/passwd") }
            #expect(error.message.contains("symbolic link"))
        }
    }

    @Test("write, read, list and edit; an edit whose text is missing or repeated says what to do")
    func files() async throws {
        try await withTemporaryDirectory { folder in
            let workspace = Workspace(root: folder)
            try workspace.write("k/a.c", content: "int x = 1;\nint y = 1;\n")
            #expect(try workspace.read("k/a.c").contains("int x"))
            #expect(try workspace.read("k/a.c", offset: 2, limit: 1) == "2: int y = 1;")
            #expect(try workspace.list("").contains("k/"))
            try workspace.edit("k/a.c", old: "int x = 1;", new: "int x = 2;")
            #expect(try workspace.read("k/a.c").contains("int x = 2;"))
            let missing = try #require(throws: Workspace.Failure.self) {
                try workspace.edit("k/a.c", old: "nope", new: "")
            }
            #expect(missing.message.contains("not found"))
            let twice = try #require(throws: Workspace.Failure.self) {
                try workspace.edit("k/a.c", old: " = ", new: "=")
            }
            #expect(twice.message.contains("2 times"))
        }
    }

    @Test("the shell runs in the workspace without the caller's secrets and is killed at its deadline")
    func shell() async throws {
        try await withTemporaryDirectory { folder in
            setenv("KILN_TEST_SECRET_KEY", "sk-should-not-leak", 1)
            let tools = StandardTools(workspace: Workspace(root: folder), sandbox: try await Fixtures.sandbox())
            let env = try #require(await tools.run("shell", arguments: ["command": "pwd; env"]))
            #expect(env.content.contains("/workspace"), "\(env.content)")
            #expect(!env.content.contains("sk-should-not-leak"))
            let clock = ContinuousClock()
            let start = clock.now
            let slow = try #require(await tools.run("shell", arguments: ["command": "sleep 30", "timeout_seconds": 1]))
            #expect(slow.isError)
            #expect(slow.content.contains("killed"))
            #expect(clock.now - start < .seconds(10))
        }
    }

    @Test("the shell sees its workspace and the system only: no other process, no Kiln file, no network")
    func shellSandbox() async throws {
        try await withTemporaryDirectory { folder in
            let outside = folder.appending(path: "outside")
            let inside = folder.appending(path: "workspace")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: inside, withIntermediateDirectories: true)
            try Data("kiln's secret cache".utf8).write(to: outside.appending(path: "result.json"))
            let tools = StandardTools(workspace: Workspace(root: inside), sandbox: try await Fixtures.sandbox())
            let parent = getpid()
            let probe = try #require(
                await tools.run(
                    "shell",
                    arguments: [
                        "command": .string(
                            """
                            ls /proc | grep -c '^[0-9]' ; cat /proc/\(parent)/environ 2>&1 | head -c 200; \
                            cat \(outside.path)/result.json 2>&1; echo x > \(outside.path)/planted 2>&1; \
                            echo made > /workspace/made.txt; id -u; \
                            (exec 3<>/dev/tcp/127.0.0.1/1 && echo network) 2>&1 | head -c 100; ls / | tr '\\n' ' '
                            """
                        )
                    ]
                )
            )
            let text = probe.content
            #expect(!text.contains("kiln's secret cache"), "\(text)")
            #expect(!text.contains("KILN"), "\(text)")
            #expect(!FileManager.default.fileExists(atPath: outside.appending(path: "planted").path))
            #expect(FileManager.default.fileExists(atPath: inside.appending(path: "made.txt").path))
            #expect(!text.contains("network"), "\(text)")
            // Its own PID namespace: a handful of processes (the init, the shell and its pipeline), never the host's.
            let processes = Int(text.split(separator: "\n").first(where: { Int($0) != nil }) ?? "") ?? 999
            #expect(processes < 10, "\(text)")
        }
    }

    @Test("notes survive as a file")
    func notes() async throws {
        try await withTemporaryDirectory { folder in
            let tools = StandardTools(workspace: Workspace(root: folder), sandbox: try await Fixtures.sandbox())
            _ = await tools.run("notes", arguments: ["action": "append", "text": "blocking by 64 helps"])
            #expect(tools.currentNotes.contains("blocking by 64"))
        }
    }
}

@Suite struct ConversationTests {
    @Test("compaction keeps the system prompt and the last turns, never splits a call from its result, and shrinks")
    func compaction() async throws {
        var messages: [ChatMessage] = [.system("sys")]
        for index in 0..<60 {
            messages.append(
                .assistant(
                    text: "step \(index)",
                    toolCalls: [ToolCall(id: "c\(index)", name: "evaluate", arguments: "{}")]
                )
            )
            messages.append(
                .tool(
                    callID: "c\(index)",
                    name: "evaluate",
                    content: String(repeating: "x", count: 400) + " result \(index)"
                )
            )
        }
        var compactor = Compactor(contextLimit: 4000)
        compactor.keptMessages = 7
        #expect(compactor.isDue(messages, tools: []))
        let result = try #require(await compactor.compact(messages, context: "## Your notes\nN", model: nil))
        #expect(result.messages.first == .system("sys"))
        #expect(result.messages.count < messages.count)
        #expect(Compactor.estimate(result.messages) < Compactor.estimate(messages) / 2)
        if case .tool = result.messages[2] { Issue.record("a tool result was separated from its call") }
        #expect(result.messages.last == messages.last)
        #expect(result.summary.contains("evaluate"))
    }

    @Test("tool calls without results are pending after a crash")
    func pending() {
        var state = AgentState()
        state.apply(.message(.system("s")))
        state.apply(
            .message(
                .assistant(
                    text: "",
                    toolCalls: [
                        ToolCall(id: "a", name: "x", arguments: "{}"), ToolCall(id: "b", name: "y", arguments: "{}"),
                    ]
                )
            )
        )
        state.apply(.message(.tool(callID: "a", name: "x", content: "ok")))
        #expect(state.pendingCalls.map(\.id) == ["b"])
        #expect(state.toolCalls == 1)
    }

    @Test("server-sent events are split into their data payloads, across chunk boundaries")
    func events() {
        var parser = ServerSentEventsProbe()
        #expect(parser.feed("data: {\"a\"") == [])
        #expect(parser.feed(":1}\n\ndata: [DONE]\n\n") == ["{\"a\":1}", "[DONE]"])
    }
}
