import Foundation
import KilnAgent
import KilnTesting
import Testing

/// A written file costs its path, size and diff in the conversation, not its body: in the tool's
/// result, in the conversation folded from the journal, and in what the summariser reads.
@Suite struct WriteSummaryTests {
    static let marker = "BODY_MARKER_3f9a"

    /// A 30 KB candidate whose every line carries the marker.
    static let body: String =
        (1...600).map { "float v\($0) = x[\($0)] * 2.0f; // \(marker) \($0)" }
        .joined(separator: "\n") + "\n"

    static func writeCall(id: String, content: String) -> ToolCall {
        ToolCall(
            id: id,
            name: "write_file",
            arguments: JSONValue.object(["path": "big.c", "content": .string(content)]).text
        )
    }

    @Test("a write's result gives the path, size and a short diff against the previous version, never the body")
    func summary() {
        let fresh = WriteSummary.describe(path: "big.c", old: nil, new: Self.body)
        #expect(fresh.contains("wrote big.c: a new file, 600 lines, \(Self.body.utf8.count) bytes"))
        #expect(!fresh.contains(Self.marker))

        let changed = Self.body.replacingOccurrences(of: "x[300] * 2.0f", with: "x[300] * 3.0f")
        let rewrite = WriteSummary.describe(path: "big.c", old: Self.body, new: changed)
        #expect(rewrite.contains("+1 -1 lines against the previous version"), "\(rewrite)")
        #expect(rewrite.contains("@@ -299,3 +299,3 @@"), "\(rewrite)")
        #expect(rewrite.contains("-float v300 = x[300] * 2.0f;"))
        #expect(rewrite.contains("+float v300 = x[300] * 3.0f;"))
        #expect(rewrite.contains("edit_file"))
        // Only the change and its context: one hunk of three lines, not the file.
        #expect(rewrite.components(separatedBy: Self.marker).count - 1 == 4)
        #expect(rewrite.count < 1200)

        #expect(WriteSummary.describe(path: "big.c", old: Self.body, new: Self.body).contains("unchanged"))
    }

    @Test("a diff of many scattered changes is capped and says how many changed lines it leaves out")
    func cappedDiff() {
        var changed = Self.body
        for index in stride(from: 10, through: 590, by: 20) {
            changed = changed.replacingOccurrences(of: "x[\(index)] * 2.0f", with: "x[\(index)] * 5.0f")
        }
        let text = WriteSummary.describe(path: "big.c", old: Self.body, new: changed)
        #expect(text.contains("+30 -30 lines"))
        #expect(text.contains("more changed lines not shown"), "\(text)")
        #expect(text.split(separator: "\n").count < WriteSummary.diffLineLimit + 6)
    }

    @Test(
        "once answered, a write_file call's body leaves the conversation; unanswered, it stays for a resume to re-run"
    )
    func conversationKeepsNoBody() throws {
        var state = AgentState()
        state.apply(.message(.system("sys")))
        state.apply(.message(.assistant(text: "writing", toolCalls: [Self.writeCall(id: "w1", content: Self.body)])))
        // Interrupted before the result: the call is pending with its whole body.
        let pending = try #require(state.pendingCalls.first)
        #expect(pending.arguments.contains(Self.marker))

        state.apply(.message(.tool(callID: "w1", name: "write_file", content: "wrote big.c: a new file")))
        let conversation = state.messages.map(\.text).joined()
        #expect(!conversation.contains(Self.marker))
        #expect(conversation.contains("big.c"))
        #expect(conversation.contains("\(Self.body.utf8.count) bytes written"))
        guard case .assistant(_, let calls) = state.messages[1],
            case .object(let arguments)? = JSONValue.parse(try #require(calls.first).arguments)
        else {
            Issue.record("the answer lost its call or its arguments are no longer a JSON object")
            return
        }
        #expect(arguments["path"] == "big.c")
        #expect(Compactor.estimate(state.messages) < 200)
        #expect(state.pendingCalls.isEmpty)
        // The deterministic summary of a compaction still says which file was written.
        #expect(Compactor.deterministicSummary(state.messages).contains("write_file({\"content\":\"("))
        #expect(Compactor.deterministicSummary(state.messages).contains("\"path\":\"big.c\""))
    }

    @Test("the journal keeps the body: the same events fold to the same short conversation after a round trip")
    func journalRoundTrip() throws {
        let events: [AgentEvent] = [
            .message(.system("sys")),
            .message(.assistant(text: "", toolCalls: [Self.writeCall(id: "w1", content: Self.body)])),
            .message(.tool(callID: "w1", name: "write_file", content: "wrote big.c")),
        ]
        let encoded = try events.map { try JSONEncoder().encode($0) }
        #expect(String(decoding: encoded[1], as: UTF8.self).contains(Self.marker))
        var original = AgentState()
        var decoded = AgentState()
        for (event, data) in zip(events, encoded) {
            original.apply(event)
            decoded.apply(try JSONDecoder().decode(AgentEvent.self, from: data))
        }
        #expect(original == decoded)
    }

    @Test("the summariser reads what was tried, not file bodies: read_file results and long arguments are left out")
    func summariserInput() async throws {
        let messages: [ChatMessage] = [
            .assistant(
                text: "rewriting",
                toolCalls: [
                    ToolCall(
                        id: "e1",
                        name: "edit_file",
                        arguments: JSONValue.object([
                            "path": "big.c", "old_text": .string(Self.body), "new_text": "x",
                        ]).text
                    ),
                    ToolCall(id: "r1", name: "read_file", arguments: "{\"path\": \"big.c\"}"),
                ]
            ),
            .tool(callID: "e1", name: "edit_file", content: "edited big.c at line 1"),
            .tool(callID: "r1", name: "read_file", content: Self.body),
            .tool(callID: "v1", name: "evaluate", content: "correct · geometric-mean speedup 1.52x"),
        ]
        let input = Compactor.summaryInput(messages)
        #expect(!input.contains(Self.marker))
        #expect(input.contains("edited big.c"))
        #expect(input.contains("1.52x"))
        #expect(input.contains("read_file"))
        #expect(input.count < 1000)
    }

    @Test("the write_file tool's result and its description steer to edit_file")
    func tool() async throws {
        try await withTemporaryDirectory { folder in
            let tools = StandardTools(workspace: Workspace(root: folder), sandbox: try await Fixtures.sandbox())
            let write = try #require(tools.tools.first { $0.name == "write_file" }?.definition)
            #expect(write.description.contains("edit_file"))
            let first = try #require(
                await tools.run("write_file", arguments: ["path": "big.c", "content": .string(Self.body)])
            )
            #expect(first.content.contains("a new file"))
            let edited = Self.body.replacingOccurrences(of: "x[7] * 2.0f", with: "x[7] * 4.0f")
            let second = try #require(
                await tools.run("write_file", arguments: ["path": "big.c", "content": .string(edited)])
            )
            #expect(second.content.contains("+1 -1 lines"))
            #expect(second.content.contains("edit_file would have sent just those lines"))
            #expect(try Workspace(root: folder).read("big.c") == edited)
        }
    }
}
