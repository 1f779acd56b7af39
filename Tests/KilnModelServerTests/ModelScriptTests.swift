import Foundation
import KilnAgent
import KilnModelServer
import Testing

@Suite struct ModelScriptTests {
    static let documented = """
        { "turns": [
          { "expect": { "last_message_contains": "text", "tool_result_contains": "correct", "has_tool": "evaluate",
                        "message_count_at_most": 40 },
            "delay_ms": 250,
            "stream": true,
            "status": 429,
            "error_body": {"error": {"message": "slow down"}},
            "retry_after": 1.5,
            "drop_connection": false,
            "text": "I'll write a blocked kernel.",
            "tool_calls": [ {"name": "write_file", "arguments": {"path": "a.c", "content": "..."}},
                            {"name": "evaluate", "arguments_raw": "{not json", "id": "call_x"} ],
            "finish_reason": "tool_calls",
            "usage": {"prompt_tokens": 1200, "completion_tokens": 80}
          },
          { "text": "done", "truncate": true }
        ], "repeat_last": true }
        """

    @Test("the documented format decodes into every field")
    func documentedFormat() throws {
        let script = try ModelScript.parse(Data(Self.documented.utf8))
        #expect(script.repeatsLastTurn)
        #expect(script.turns.count == 2)
        let turn = try #require(script.turns.first)
        #expect(turn.expectation?.lastMessageContains == "text")
        #expect(turn.expectation?.toolResultContains == "correct")
        #expect(turn.expectation?.offeredTool == "evaluate")
        #expect(turn.expectation?.maximumMessageCount == 40)
        #expect(turn.delay == .milliseconds(250))
        #expect(turn.isStreaming == true)
        #expect(turn.status == 429)
        #expect(turn.errorBody?["error"]?["message"] == "slow down")
        #expect(turn.retryAfter == .milliseconds(1500))
        #expect(!turn.dropsConnection)
        #expect(turn.toolCalls.map(\.argumentsText) == [#"{"content":"...","path":"a.c"}"#, "{not json"])
        #expect(turn.toolCalls.last?.id == "call_x")
        #expect(turn.finishReason == "tool_calls")
        #expect(turn.usage == TokenUsage(input: 1200, output: 80))
        #expect(script.turns.last?.truncates == true)
        #expect(script.turns.last?.status == 200)
    }

    @Test("a script survives encoding and decoding")
    func roundTrip() throws {
        let script = try ModelScript.parse(Data(Self.documented.utf8))
        let again = try ModelScript.parse(try JSONEncoder().encode(script))
        #expect(again == script)
    }

    @Test(
        "a file loads, and its problems name the file and the key",
        arguments: [
            (#"{"turns": [{"text": "x", "tool_call": []}]}"#, "turns[0].tool_call: unknown key"),
            (#"{"turns": [{"text": 3}]}"#, "turns[0].text: expected a string"),
            (#"{"turns": [{"tool_calls": [{"arguments": {}}]}]}"#, "turns[0].tool_calls[0].name: missing"),
            (#"{"turns": []}"#, "turns: the script has no turns"),
            (#"{"turns": [{"status": 999}]}"#, "turns[0].status: 999 is not an HTTP status"),
            (#"{"turns": ["#, "the script: The given data was not valid JSON"),
        ]
    )
    func problems(text: String, problem: String) throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "kiln-model-script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appending(path: "script.json")
        try Data(text.utf8).write(to: file)
        let error = #expect(throws: ModelServerError.self) { try ModelScript.load(from: file) }
        #expect(error?.code == .invalidScript)
        #expect(error?.message.hasPrefix("\(file.path): error: ") == true)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
    }

    @Test("every problem is reported at once")
    func allProblems() throws {
        let text =
            #"{"turns": [{"status": 42, "delay_ms": -1}, {"tool_calls": [{"name": "", "arguments": {}, "arguments_raw": "{}"}]}]}"#
        let error = #expect(throws: ModelServerError.self) { try ModelScript.parse(Data(text.utf8), source: "s.json") }
        let lines = error?.message.split(separator: "\n").map(String.init) ?? []
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0.hasPrefix("s.json: error: turns[") })
    }

    @Test("a missing file is unreadable, named in the message")
    func missingFile() throws {
        let file = FileManager.default.temporaryDirectory.appending(
            path: "kiln-no-such-script-\(UUID().uuidString).json"
        )
        let error = #expect(throws: ModelServerError.self) { try ModelScript.load(from: file) }
        #expect(error?.code == .unreadableScript)
        #expect(error?.message.contains(file.path) == true)
    }
}
