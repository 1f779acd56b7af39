import AsyncHTTPClient
import Foundation
import NIOCore

/// A client of OpenAI-compatible chat completions with tool calling (OpenAI, Qwen on Alibaba Cloud
/// Model Studio, vLLM, SGLang, Ollama, llama.cpp), streaming or not.
package struct OpenAIChatClient: ChatModel {
    /// The API key, for redaction.
    package var secrets: [String] { configuration.apiKey.map { [$0] } ?? [] }

    /// Where and what to ask.
    package var configuration: ModelConfiguration
    /// The label in journals and reports.
    package var label: String
    var exchange = HTTPExchange()

    /// Creates a client.
    /// - Parameters:
    ///   - configuration: the endpoint and model.
    ///   - label: the label in journals, default `openai:MODEL`.
    package init(configuration: ModelConfiguration, label: String? = nil) {
        self.configuration = configuration
        self.label = label ?? "openai:\(configuration.model)"
    }

    private var endpoint: String { "the model endpoint \(configuration.baseURL)" }

    package func complete(_ request: ChatRequest) async throws(ModelError) -> ChatResponse {
        do {
            return try await send(request)
        } catch {
            throw error.redacting(configuration.apiKey)
        }
    }

    private func send(_ request: ChatRequest) async throws(ModelError) -> ChatResponse {
        var body: [String: JSONValue] = [
            "model": .string(configuration.model),
            "messages": .array(request.messages.map(Self.wire)),
            "max_tokens": .number(Double(configuration.maxOutputTokens)),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.parameters,
                        ],
                    ]
                }
            )
        }
        if let temperature = configuration.temperature { body["temperature"] = .number(temperature) }
        let isStreaming = configuration.isStreaming
        if isStreaming {
            body["stream"] = true
            body["stream_options"] = ["include_usage": true]
        }
        var headers: [(String, String)] = []
        if let key = configuration.apiKey, !key.isEmpty { headers.append(("Authorization", "Bearer \(key)")) }
        let url = configuration.baseURL.trimmingSuffix("/") + "/chat/completions"
        let endpoint = endpoint
        let keyVariable = configuration.apiKeyVariable
        let data = Data(JSONValue.object(body).text.utf8)
        return try await exchange.post(
            url: url,
            headers: headers,
            body: data,
            timeout: configuration.requestTimeout,
            endpoint: endpoint
        ) { response throws(ModelError) in
            guard (200..<300).contains(response.status) else {
                let body = try await HTTPExchange.collect(response.body, limit: 1 << 20)
                throw HTTPExchange.error(
                    status: response.status,
                    body: body,
                    headers: response.headers,
                    endpoint: endpoint,
                    keyVariable: keyVariable
                )
            }
            let contentType = response.headers.first { $0.0.lowercased() == "content-type" }?.1 ?? ""
            if contentType.contains("text/event-stream") {
                return try await Self.readStream(response, endpoint: endpoint)
            }
            let body = try await HTTPExchange.collect(response.body)
            return try Self.parse(body, endpoint: endpoint)
        }
    }

    static func wire(_ message: ChatMessage) -> JSONValue {
        switch message {
        case .system(let text): return ["role": "system", "content": .string(text)]
        case .user(let text): return ["role": "user", "content": .string(text)]
        case .assistant(let text, let calls):
            var object: [String: JSONValue] = ["role": "assistant", "content": .string(text)]
            if !calls.isEmpty {
                object["tool_calls"] = .array(
                    calls.map { call in
                        [
                            "id": .string(call.id), "type": "function",
                            "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                        ]
                    }
                )
            }
            return .object(object)
        case .tool(let id, let name, let content):
            return ["role": "tool", "tool_call_id": .string(id), "name": .string(name), "content": .string(content)]
        }
    }

    static func parse(_ body: Data, endpoint: String) throws(ModelError) -> ChatResponse {
        guard let json = JSONValue.parse(body) else {
            throw ModelError(.malformedResponse, "\(endpoint) answered with something that is not JSON")
        }
        if let error = json["error"], error != .null {
            throw ModelError(
                .badRequest,
                "\(endpoint) answered with an error: \(error["message"]?.string ?? error.text)"
            )
        }
        guard let choice = json["choices"]?[0], let message = choice["message"] else {
            throw ModelError(.malformedResponse, "\(endpoint) answered without choices[0].message")
        }
        let calls = (message["tool_calls"]?.array ?? []).enumerated().map { index, call in
            ToolCall(
                id: call["id"]?.string ?? "call_\(index)",
                name: call["function"]?["name"]?.string ?? "",
                arguments: call["function"]?["arguments"]?.string ?? call["function"]?["arguments"]?.text ?? ""
            )
        }
        let finish = choice["finish_reason"]?.string ?? "stop"
        let text = message["content"]?.string ?? ""
        if let refusal = message["refusal"]?.string, !refusal.isEmpty, calls.isEmpty {
            throw ModelError(.refused, "the model refused: \(refusal.prefix(300))")
        }
        if finish == "content_filter", calls.isEmpty, text.isEmpty {
            throw ModelError(.refused, "the provider's content filter stopped the answer")
        }
        return ChatResponse(text: text, toolCalls: calls, finishReason: finish, usage: usage(json["usage"]))
    }

    static func usage(_ value: JSONValue?) -> TokenUsage? {
        guard let value, let input = value["prompt_tokens"]?.int else { return nil }
        return TokenUsage(input: input, output: value["completion_tokens"]?.int ?? 0)
    }

    /// Accumulates a streamed answer: text deltas, and tool calls whose arguments arrive in fragments.
    static func readStream(_ response: HTTPExchange.Response, endpoint: String) async throws(ModelError) -> ChatResponse
    {
        var events = ServerSentEvents()
        var text = ""
        var calls: [Int: ToolCall] = [:]
        var finish = "stop"
        var usage: TokenUsage?
        var isDone = false
        var sawFinish = false
        func consume(_ payload: String) throws(ModelError) {
            if payload == "[DONE]" {
                isDone = true
                return
            }
            guard let chunk = JSONValue.parse(payload) else {
                throw ModelError(.malformedResponse, "\(endpoint) streamed an event that is not JSON")
            }
            if let error = chunk["error"], error != .null {
                throw ModelError(
                    .serverError,
                    "\(endpoint) failed mid-stream: \(error["message"]?.string ?? error.text)"
                )
            }
            if let reported = Self.usage(chunk["usage"]) { usage = reported }
            guard let choice = chunk["choices"]?[0] else { return }
            if let reason = choice["finish_reason"]?.string {
                finish = reason
                sawFinish = true
            }
            let delta = choice["delta"]
            if let content = delta?["content"]?.string { text += content }
            for fragment in delta?["tool_calls"]?.array ?? [] {
                let index = fragment["index"]?.int ?? 0
                var call = calls[index] ?? ToolCall(id: "", name: "", arguments: "")
                if let id = fragment["id"]?.string { call.id = id }
                if let name = fragment["function"]?["name"]?.string { call.name += name }
                if let arguments = fragment["function"]?["arguments"]?.string { call.arguments += arguments }
                calls[index] = call
            }
        }
        guard let body = response.body else {
            throw ModelError(.malformedResponse, "\(endpoint) sent an empty stream")
        }
        do {
            for try await buffer in body {
                for payload in events.feed(buffer.readableBytesView) { try consume(payload) }
                if isDone { break }
            }
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError(.connection, "the connection to \(endpoint) dropped mid-answer; it will be retried")
        }
        if !isDone {
            for payload in events.finish() { try consume(payload) }
        }
        if !isDone && !sawFinish {
            throw ModelError(.connection, "the stream from \(endpoint) ended before the answer did; it will be retried")
        }
        let ordered = calls.keys.sorted().compactMap { calls[$0] }.enumerated().map { index, call in
            var call = call
            if call.id.isEmpty { call.id = "call_\(index)" }
            return call
        }
        if finish == "content_filter", ordered.isEmpty, text.isEmpty {
            throw ModelError(.refused, "the provider's content filter stopped the answer")
        }
        return ChatResponse(text: text, toolCalls: ordered, finishReason: finish, usage: usage)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
