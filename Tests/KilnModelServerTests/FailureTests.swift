import Foundation
import KilnAgent
import KilnModelServer
import Testing

@Suite struct FailureTests {
    @Test("429 with Retry-After, then an answer, through RetryingModel")
    func rateLimitedThenAnswered() async throws {
        let script = ModelScript(turns: [
            .init(status: 429, retryAfter: .milliseconds(20)),
            .init(text: "here now"),
        ])
        let server = ScriptedModelServer(script: script)
        let retries = RetryLog()
        let response = try await server.withRunning { baseURL in
            try await TestModels.retrying(TestModels.openAI(baseURL, streaming: true), retries: retries)
                .complete(TestModels.opening)
        }
        #expect(response.text == "here now")
        #expect(server.turnsServed == 2)
        #expect(retries.codes == [.rateLimited])
        #expect(retries.delays.allSatisfy { $0 >= .milliseconds(20) })
    }

    @Test("500, then an answer, through RetryingModel")
    func serverErrorThenAnswered() async throws {
        let script = ModelScript(turns: [.init(status: 500), .init(text: "recovered")])
        let server = ScriptedModelServer(script: script)
        let retries = RetryLog()
        let response = try await server.withRunning { baseURL in
            try await TestModels.retrying(TestModels.openAI(baseURL, streaming: false), retries: retries)
                .complete(TestModels.opening)
        }
        #expect(response.text == "recovered")
        #expect(server.turnsServed == 2)
        #expect(retries.codes == [.serverError])
    }

    @Test("401 is unauthorized, names the key's variable and not the key, and is not retried")
    func unauthorized() async throws {
        let script = ModelScript(turns: [.init(status: 401), .init(text: "never reached")])
        let server = ScriptedModelServer(script: script)
        let retries = RetryLog()
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.retrying(TestModels.openAI(baseURL, streaming: true), retries: retries)
                    .complete(TestModels.opening)
            }
        }
        let failure = try #require(error)
        #expect(failure.code == .unauthorized)
        #expect(failure.message.contains("$\(TestModels.keyVariable)"))
        #expect(!failure.message.contains(TestModels.key))
        #expect(server.turnsServed == 1)
        #expect(retries.codes.isEmpty)
    }

    @Test("a key the endpoint echoes in its 401 body does not reach the error's message")
    func echoedKey() async throws {
        let body: JSONValue = ["error": ["message": .string("Incorrect API key provided: \(TestModels.key)")]]
        let script = ModelScript(turns: [.init(status: 401, errorBody: body)])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.openAI(baseURL, streaming: false).complete(TestModels.opening)
            }
        }
        let failure = try #require(error)
        #expect(failure.code == .unauthorized)
        #expect(!failure.message.contains(TestModels.key))
    }

    @Test("404 is not found")
    func notFound() async throws {
        let script = ModelScript(turns: [
            .init(status: 404, errorBody: ["error": ["message": "model 'x' does not exist"]])
        ])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.openAI(baseURL, streaming: false).complete(TestModels.opening)
            }
        }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("model 'x' does not exist") == true)
    }

    @Test("an answer slower than the request timeout is a timeout")
    func timeout() async throws {
        let script = ModelScript(turns: [.init(text: "too late", delay: .seconds(2))])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.openAI(baseURL, streaming: true, timeout: .milliseconds(200))
                    .complete(TestModels.opening)
            }
        }
        #expect(error?.code == .timeout)
        #expect(error?.isTransient == true)
    }

    @Test("a dropped connection is a transient connection error", arguments: [false, true])
    func droppedConnection(streaming: Bool) async throws {
        let script = ModelScript(turns: [
            .init(
                text: "a long answer that will not arrive whole",
                toolCalls: [.init(name: "evaluate")],
                dropsConnection: true
            )
        ])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.openAI(baseURL, streaming: streaming).complete(TestModels.opening)
            }
        }
        #expect(error?.code == .connection)
        #expect(error?.isTransient == true)
        #expect(server.requests.count == 1)
    }

    @Test("a stream that ends cleanly before any content is a transient connection error")
    func truncatedEmptyStream() async throws {
        let script = ModelScript(turns: [.init(truncates: true)])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.openAI(baseURL, streaming: true).complete(TestModels.opening)
            }
        }
        #expect(error?.code == .connection)
    }

    @Test("a stream that ends cleanly mid-answer, with no finish reason or [DONE], is an error")
    func truncatedStream() async throws {
        let script = ModelScript(turns: [
            .init(text: "The first half arrives but the second half never does.", truncates: true)
        ])
        let server = ScriptedModelServer(script: script)
        try await server.withRunning { baseURL in
            let client = TestModels.openAI(baseURL, streaming: true)
            let error = await #expect(throws: ModelError.self) { try await client.complete(TestModels.opening) }
            #expect(error?.isTransient == true)
        }
    }

    @Test("a truncated plain answer is a malformed response")
    func truncatedBody() async throws {
        let script = ModelScript(turns: [.init(text: "cut in half", truncates: true)])
        let server = ScriptedModelServer(script: script)
        let error = try await server.withRunning { baseURL in
            await #expect(throws: ModelError.self) {
                try await TestModels.openAI(baseURL, streaming: false).complete(TestModels.opening)
            }
        }
        #expect(error?.code == .malformedResponse)
    }

    @Test("serving on a port in use fails instead of hanging")
    func portInUse() async throws {
        let script = ModelScript(turns: [.init(text: "unused")])
        try await ScriptedModelServer.withRunning(script: script) { baseURL in
            let port = try #require(baseURL.port)
            await #expect(throws: (any Error).self) {
                try await ScriptedModelServer.serve(script: script, port: port) { _ in }
            }
        }
    }

    @Test("a base URL where nothing listens is a transient connection error")
    func closedPort() async throws {
        let server = ScriptedModelServer(script: ModelScript(turns: [.init(text: "unused")]))
        let stopped = try await server.withRunning { $0 }
        let error = await #expect(throws: ModelError.self) {
            try await TestModels.openAI(stopped, streaming: false, timeout: .milliseconds(500))
                .complete(TestModels.opening)
        }
        #expect(error?.isTransient == true)
        #expect(error?.code == .connection)
        #expect(server.requests.isEmpty)
    }
}
