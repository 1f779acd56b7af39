import Foundation
import KilnAgent
import KilnModelServer
import Testing

@Suite struct AnthropicExchangeTests {
    @Test("a tool_use answer and the tool_result sent back make a round trip")
    func toolUseRoundTrip() async throws {
        let arguments: JSONValue = ["path": "attention.c", "content": "void attend(void) {}\n"]
        let script = ModelScript(turns: [
            .init(
                text: "Writing the kernel.",
                toolCalls: [.init(name: "write_file", arguments: arguments)],
                expectation: .init(lastMessageContains: "faster", offeredTool: "write_file"),
                usage: .init(input: 900, output: 40)
            ),
            .init(
                text: "Done.",
                expectation: .init(lastMessageContains: "wrote 21 bytes", toolResultContains: "wrote 21 bytes")
            ),
        ])
        let server = ScriptedModelServer(script: script, forbiddenSecrets: [TestModels.key])
        let (first, second) = try await server.withRunning { baseURL in
            let client = TestModels.anthropic(baseURL)
            let first = try await client.complete(TestModels.opening)
            let call = try #require(first.toolCalls.first)
            let followUp = ChatRequest(
                messages: TestModels.opening.messages + [
                    .assistant(text: first.text, toolCalls: first.toolCalls),
                    .tool(callID: call.id, name: call.name, content: "wrote 21 bytes to attention.c"),
                ],
                tools: TestModels.tools
            )
            return (first, try await client.complete(followUp))
        }
        #expect(first.text == "Writing the kernel.")
        #expect(first.finishReason == "tool_calls")
        #expect(first.usage == TokenUsage(input: 900, output: 40))
        let call = try #require(first.toolCalls.first)
        #expect(call.id == "toolu_1_0")
        #expect(call.name == "write_file")
        #expect(JSONValue.parse(call.arguments) == arguments)
        #expect(second.text == "Done.")
        #expect(second.finishReason == "end_turn")
        #expect(server.violations.isEmpty)
        let sent = try #require(server.requests.last)
        #expect(sent["system"] == "You optimise C kernels.")
        let blocks = sent["messages"]?.array?.last?["content"]?.array ?? []
        #expect(blocks.first?["type"] == "tool_result")
        #expect(blocks.first?["tool_use_id"] == "toolu_1_0")
    }

    @Test("arguments_raw that is not a JSON object arrives as a JSON string input")
    func rawArguments() async throws {
        let script = ModelScript(turns: [.init(toolCalls: [.init(name: "evaluate", rawArguments: "{not json")])])
        let server = ScriptedModelServer(script: script)
        let response = try await server.withRunning { baseURL in
            try await TestModels.anthropic(baseURL).complete(TestModels.opening)
        }
        #expect(response.toolCalls.first?.arguments == #""{not json""#)
        #expect(response.text.isEmpty)
    }

    @Test(
        "errors come in Anthropic's shape and map to the same codes",
        arguments: [(429, "rate limited"), (529, "server error")]
    )
    func errors(status: Int, code: String) async throws {
        let script = ModelScript(turns: [.init(status: status, retryAfter: .seconds(3))])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.anthropic(baseURL).complete(TestModels.opening)
            }
        }
        #expect(error?.code.rawValue == code)
        #expect(error?.message.contains("scripted HTTP \(status) (turn 1)") == true)
        if status == 429 { #expect(error?.retryAfter == .seconds(3)) }
    }
}
