import Foundation

/// A client of the Anthropic Messages API with tool use.
package struct AnthropicClient: ChatModel {
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
    ///   - label: the label in journals, default `anthropic:MODEL`.
    package init(configuration: ModelConfiguration, label: String? = nil) {
        self.configuration = configuration
        self.label = label ?? "anthropic:\(configuration.model)"
    }

    package func complete(_ request: ChatRequest) async throws(ModelError) -> ChatResponse {
        do {
            return try await send(request)
        } catch {
            throw error.redacting(configuration.apiKey)
        }
    }

    private func send(_ request: ChatRequest) async throws(ModelError) -> ChatResponse {
        let system = request.messages.compactMap { message -> String? in
            if case .system(let text) = message { return text }
            return nil
        }.joined(separator: "\n\n")
        var body: [String: JSONValue] = [
            "model": .string(configuration.model),
            "max_tokens": .number(Double(configuration.maxOutputTokens)),
            "messages": .array(Self.wire(request.messages)),
        ]
        if !system.isEmpty { body["system"] = .string(system) }
        if let temperature = configuration.temperature { body["temperature"] = .number(temperature) }
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "name": .string(tool.name), "description": .string(tool.description),
                        "input_schema": tool.parameters,
                    ]
                }
            )
        }
        var headers: [(String, String)] = [("anthropic-version", "2023-06-01")]
        if let key = configuration.apiKey, !key.isEmpty { headers.append(("x-api-key", key)) }
        let endpoint = "the model endpoint \(configuration.baseURL)"
        let keyVariable = configuration.apiKeyVariable
        let url = configuration.baseURL.trimmingSuffix("/") + "/v1/messages"
        return try await exchange.post(
            url: url,
            headers: headers,
            body: Data(JSONValue.object(body).text.utf8),
            timeout: configuration.requestTimeout,
            endpoint: endpoint
        ) { response throws(ModelError) in
            let data = try await HTTPExchange.collect(response.body)
            guard (200..<300).contains(response.status) else {
                throw HTTPExchange.error(
                    status: response.status,
                    body: data,
                    headers: response.headers,
                    endpoint: endpoint,
                    keyVariable: keyVariable
                )
            }
            return try Self.parse(data, endpoint: endpoint)
        }
    }

    /// Neutral messages as Anthropic's alternating user/assistant turns with content blocks.
    static func wire(_ messages: [ChatMessage]) -> [JSONValue] {
        var turns: [(role: String, blocks: [JSONValue])] = []
        func add(_ role: String, _ blocks: [JSONValue]) {
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        for message in messages {
            switch message {
            case .system: continue
            case .user(let text): add("user", [["type": "text", "text": .string(text)]])
            case .assistant(let text, let calls):
                var blocks: [JSONValue] = text.isEmpty ? [] : [["type": "text", "text": .string(text)]]
                for call in calls {
                    let input = JSONValue.parse(call.arguments).flatMap { $0.object != nil ? $0 : nil } ?? [:]
                    blocks.append([
                        "type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": input,
                    ])
                }
                add("assistant", blocks.isEmpty ? [["type": "text", "text": "(no text)"]] : blocks)
            case .tool(let id, _, let content):
                add("user", [["type": "tool_result", "tool_use_id": .string(id), "content": .string(content)]])
            }
        }
        return turns.map { ["role": .string($0.role), "content": .array($0.blocks)] }
    }

    static func parse(_ body: Data, endpoint: String) throws(ModelError) -> ChatResponse {
        guard let json = JSONValue.parse(body), let content = json["content"]?.array else {
            throw ModelError(.malformedResponse, "\(endpoint) answered without a content array")
        }
        var text = ""
        var calls: [ToolCall] = []
        for block in content {
            switch block["type"]?.string {
            case "text": text += block["text"]?.string ?? ""
            case "tool_use":
                calls.append(
                    ToolCall(
                        id: block["id"]?.string ?? "toolu_\(calls.count)",
                        name: block["name"]?.string ?? "",
                        arguments: block["input"]?.text ?? "{}"
                    )
                )
            default: continue
            }
        }
        let stop = json["stop_reason"]?.string ?? "end_turn"
        if stop == "refusal", calls.isEmpty {
            throw ModelError(.refused, "the model refused to answer\(text.isEmpty ? "" : ": \(text.prefix(300))")")
        }
        let usage = json["usage"].flatMap { usage in
            usage["input_tokens"]?.int.map { TokenUsage(input: $0, output: usage["output_tokens"]?.int ?? 0) }
        }
        return ChatResponse(
            text: text,
            toolCalls: calls,
            finishReason: stop == "tool_use" ? "tool_calls" : stop,
            usage: usage
        )
    }
}
