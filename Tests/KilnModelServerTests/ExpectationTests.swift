import Foundation
import KilnAgent
import KilnModelServer
import Testing

@Suite struct ExpectationTests {
    @Test("every unmet expectation is recorded with the turn, what was expected and what came")
    func unmetExpectations() async throws {
        let expectation = ModelScript.Expectation(
            lastMessageContains: "correct",
            toolResultContains: "speedup",
            offeredTool: "profile",
            maximumMessageCount: 1
        )
        let script = ModelScript(turns: [.init(text: "answered anyway", expectation: expectation)])
        let server = ScriptedModelServer(script: script)
        let response = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: false).complete(TestModels.opening)
        }
        #expect(response.text == "answered anyway")
        let violations = server.violations
        #expect(violations.count == 4)
        #expect(violations.allSatisfy { $0.hasPrefix("turn 1: ") })
        #expect(violations.contains { $0.contains("\"correct\"") && $0.contains("Make the attention kernel faster.") })
        #expect(violations.contains { $0.contains("\"speedup\"") && $0.contains("no tool results") })
        #expect(violations.contains { $0.contains("\"profile\"") && $0.contains("write_file, evaluate") })
        #expect(violations.contains { $0.contains("at most 1 messages") && $0.contains("has 2") })
    }

    @Test("met expectations record nothing, OpenAI tool messages counting as tool results")
    func metExpectations() async throws {
        let script = ModelScript(turns: [
            .init(
                text: "good",
                expectation: .init(
                    lastMessageContains: "correct",
                    toolResultContains: "speedup 2.1",
                    offeredTool: "evaluate",
                    maximumMessageCount: 4
                )
            )
        ])
        let request = ChatRequest(
            messages: TestModels.opening.messages + [
                .assistant(text: "", toolCalls: [.init(id: "call_1", name: "evaluate", arguments: "{}")]),
                .tool(callID: "call_1", name: "evaluate", content: "correct; speedup 2.1x"),
            ],
            tools: TestModels.tools
        )
        let server = ScriptedModelServer(script: script)
        _ = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: true).complete(request)
        }
        #expect(server.violations.isEmpty)
    }

    @Test("request_lacks finds text in any message, a tool call's JSON arguments included, on either protocol")
    func absentText() async throws {
        let body = "float v = x * 2.0f; /* BODY_7e1 */"
        let written = ChatRequest(
            messages: TestModels.opening.messages + [
                .assistant(
                    text: "",
                    toolCalls: [
                        .init(
                            id: "call_1",
                            name: "write_file",
                            arguments: JSONValue.object(["path": "k.c", "content": .string(body)]).text
                        )
                    ]
                ),
                .tool(callID: "call_1", name: "write_file", content: "wrote k.c"),
            ],
            tools: TestModels.tools
        )
        let lacks = ModelScript.Expectation(absentText: "BODY_7e1")
        let script = ModelScript(turns: [
            .init(text: "one", expectation: lacks), .init(text: "two", expectation: lacks),
            .init(text: "three", expectation: lacks),
        ])
        let server = ScriptedModelServer(script: script)
        try await server.withRunning { baseURL in
            _ = try await TestModels.openAI(baseURL, streaming: false).complete(TestModels.opening)
            #expect(server.violations.isEmpty)
            _ = try await TestModels.openAI(baseURL, streaming: false).complete(written)
            _ = try await TestModels.anthropic(baseURL).complete(written)
        }
        let violations = server.violations
        #expect(violations.count == 2, "\(violations)")
        #expect(violations.first?.hasPrefix("turn 2: expected no message to contain \"BODY_7e1\"") == true)
        #expect(violations.first?.contains("(assistant)") == true)
        #expect(violations.last?.hasPrefix("turn 3: ") == true)
        #expect(ModelScript(turns: [.init(expectation: .init(absentText: ""))]).problems.count == 1)
    }

    @Test("a forbidden secret in a body is recorded without quoting it; in the key header it is fine")
    func forbiddenSecrets() async throws {
        let script = ModelScript(turns: [.init(text: "one"), .init(text: "two")])
        let server = ScriptedModelServer(script: script, forbiddenSecrets: [TestModels.key])
        let leaky = ChatRequest(messages: [.user("my key is \(TestModels.key)")], tools: [])
        try await server.withRunning { baseURL in
            let client = TestModels.openAI(baseURL, streaming: false)
            _ = try await client.complete(TestModels.opening)
            #expect(server.violations.isEmpty)
            _ = try await client.complete(leaky)
        }
        let violations = server.violations
        #expect(violations.count == 1)
        #expect(violations.first?.contains("request 2: the body contains forbidden secret #1") == true)
        #expect(!violations.joined().contains(TestModels.key))
    }

    @Test("a request after the script ran out gets a 500 and is recorded")
    func exhausted() async throws {
        let server = ScriptedModelServer(script: ModelScript(turns: [.init(text: "only")]))
        let error = try await server.withRunning { baseURL in
            let client = TestModels.openAI(baseURL, streaming: false)
            _ = try await client.complete(TestModels.opening)
            return await #expect(throws: ModelError.self) { try await client.complete(TestModels.opening) }
        }
        #expect(error?.code == .serverError)
        #expect(error?.message.contains("ran out") == true)
        #expect(server.turnsServed == 1)
        #expect(server.requests.count == 2)
        #expect(server.violations.count == 1)
        #expect(server.violations.first?.contains("request 2: the script ran out") == true)
    }

    @Test("a resumed run's server starts after the turns already answered")
    func startTurn() async throws {
        let script = ModelScript(turns: [
            .init(text: "one"), .init(text: "two"), .init(text: "three", expectation: .init(offeredTool: "profile")),
        ])
        let texts = try await ScriptedModelServer.withRunning(script: script, startTurn: 1) { baseURL in
            let client = TestModels.openAI(baseURL, streaming: false)
            return [
                try await client.complete(TestModels.opening).text, try await client.complete(TestModels.opening).text,
            ]
        }
        #expect(texts == ["two", "three"])
        let server = ScriptedModelServer(script: script, startTurn: 2)
        _ = try await server.withRunning { baseURL in
            try await TestModels.openAI(baseURL, streaming: true).complete(TestModels.opening)
        }
        #expect(server.turnsServed == 1)
        #expect(server.violations.count == 1)
        #expect(server.violations.first?.hasPrefix("turn 3: ") == true)
    }

    @Test("repeat_last answers every later request with the last turn")
    func repeatLast() async throws {
        let script = ModelScript(turns: [.init(text: "first"), .init(text: "again")], repeatsLastTurn: true)
        let server = ScriptedModelServer(script: script)
        let texts = try await server.withRunning { baseURL in
            let client = TestModels.openAI(baseURL, streaming: true)
            var texts: [String] = []
            for _ in 0..<4 { texts.append(try await client.complete(TestModels.opening).text) }
            return texts
        }
        #expect(texts == ["first", "again", "again", "again"])
        #expect(server.turnsServed == 4)
        #expect(server.violations.isEmpty)
    }
}
