import Foundation
import KilnAgent
import KilnModelServer
import Testing

@Suite struct OpenAIExchangeTests {
    @Test("a plain answer reaches the OpenAI client with its text, finish reason and usage", arguments: [false, true])
    func text(streaming: Bool) async throws {
        let script = ModelScript(turns: [
            .init(
                text: "I'll write a blocked kernel. Tiles of 64 fit in L1 — ünïcode too.",
                usage: .init(input: 1200, output: 80)
            )
        ])
        let server = ScriptedModelServer(script: script, forbiddenSecrets: [TestModels.key])
        let response = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: streaming).complete(TestModels.opening)
        }
        #expect(response.text == "I'll write a blocked kernel. Tiles of 64 fit in L1 — ünïcode too.")
        #expect(response.toolCalls.isEmpty)
        #expect(response.finishReason == "stop")
        #expect(response.usage == TokenUsage(input: 1200, output: 80))
        #expect(server.turnsServed == 1)
        #expect(server.violations.isEmpty)
        let request = try #require(server.requests.first)
        #expect(request["model"] == "scripted-gpt")
        #expect(request["stream"]?.bool == (streaming ? true : nil))
        #expect(request["messages"]?.array?.count == 2)
    }

    @Test("streamed tool calls whose arguments arrive in fragments reassemble exactly")
    func streamedToolCalls() async throws {
        let content = "#include <stddef.h>\nvoid attend(const float *q, size_t n) {\n\t/* \"blocked\" — 64×64 */\n}\n"
        let arguments: JSONValue = ["path": "attention.c", "content": .string(content)]
        let script = ModelScript(turns: [
            .init(
                text: "Writing it.",
                toolCalls: [
                    .init(name: "write_file", arguments: arguments),
                    .init(name: "evaluate", arguments: ["candidate": "attention.c", "shapes": [1, 2.5, true, .null]]),
                ]
            )
        ])
        let server = ScriptedModelServer(script: script)
        let response = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: true).complete(TestModels.opening)
        }
        #expect(response.text == "Writing it.")
        #expect(response.finishReason == "tool_calls")
        #expect(response.toolCalls.map(\.name) == ["write_file", "evaluate"])
        #expect(response.toolCalls.map(\.id) == ["call_1_0", "call_1_1"])
        let first = try #require(response.toolCalls.first)
        #expect(first.arguments == arguments.text)
        #expect(JSONValue.parse(first.arguments)?["content"]?.string == content)
        #expect(response.toolCalls.last?.arguments == #"{"candidate":"attention.c","shapes":[1,2.5,true,null]}"#)
        let usage = try #require(response.usage)
        #expect(usage.input > 0 && usage.output > 0)
        #expect(server.violations.isEmpty)
    }

    @Test("the stream splits each call's arguments into several fragments after a head with id and name")
    func fragments() throws {
        let turn = ModelScript.Turn(toolCalls: [
            .init(name: "write_file", arguments: ["path": "a.c", "content": "int x;"])
        ])
        let answer = ScriptedAnswer(turn: turn, number: 3, wireProtocol: .openAI, model: "m", requestSize: 400)
        let chunks = answer.openAIChunks(includesUsage: true)
        let fragments = chunks.compactMap { $0["choices"]?[0]?["delta"]?["tool_calls"]?[0] }
        let head = try #require(fragments.first)
        #expect(head["id"] == "call_3_0")
        #expect(head["function"]?["name"] == "write_file")
        #expect(fragments.count >= 4)
        let joined = fragments.compactMap { $0["function"]?["arguments"]?.string }.joined()
        #expect(joined == #"{"content":"int x;","path":"a.c"}"#)
        #expect(chunks.dropLast().last?["choices"]?[0]?["finish_reason"] == "tool_calls")
        #expect(chunks.last?["choices"] == [])
        #expect(chunks.last?["usage"]?["prompt_tokens"] == 100)
    }

    @Test("malformed arguments_raw arrives verbatim in the tool call", arguments: [false, true])
    func malformedArguments(streaming: Bool) async throws {
        let raw = #"{"path": "a.c", "content": "unterminated"#
        let script = ModelScript(turns: [.init(toolCalls: [.init(name: "write_file", rawArguments: raw)])])
        let server = ScriptedModelServer(script: script)
        let response = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: streaming).complete(TestModels.opening)
        }
        let call = try #require(response.toolCalls.first)
        #expect(call.arguments == raw)
        #expect(call.name == "write_file")
        #expect(response.text.isEmpty)
    }

    @Test("a turn's stream setting overrides the request's")
    func streamOverride() async throws {
        let script = ModelScript(turns: [.init(text: "streamed anyway", isStreaming: true)])
        let server = ScriptedModelServer(script: script)
        let response = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: false).complete(TestModels.opening)
        }
        #expect(response.text == "streamed anyway")
    }
}
