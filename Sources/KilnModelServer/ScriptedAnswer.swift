package import KilnAgent

/// The answer one turn gives to one request, rendered in either wire protocol.
package struct ScriptedAnswer: Sendable, Hashable {
    /// The answer's id (`chatcmpl-scripted-N` or `msg_scripted_N`).
    package var id: String
    /// The model named in the request, echoed back.
    package var model: String
    /// What the model says.
    package var text: String
    /// The tools it calls, with their ids and the arguments' text as sent.
    package var toolCalls: [ToolCall]
    /// Why it stopped, in OpenAI's words (`stop`, `tool_calls`, `length`, ...).
    package var finishReason: String
    /// The tokens reported.
    package var usage: TokenUsage

    /// Renders a turn for a request.
    /// - Parameters:
    ///   - turn: the turn.
    ///   - number: the turn's number, from 1, for ids.
    ///   - wireProtocol: the request's protocol, for ids.
    ///   - model: the model the request named.
    ///   - requestSize: the request body's size in bytes, to estimate usage when the turn gives none.
    package init(
        turn: ModelScript.Turn,
        number: Int,
        wireProtocol: ModelProtocol,
        model: String,
        requestSize: Int
    ) {
        let prefix = wireProtocol == .anthropic ? "toolu" : "call"
        self.id = wireProtocol == .anthropic ? "msg_scripted_\(number)" : "chatcmpl-scripted-\(number)"
        self.model = model
        self.text = turn.text
        self.toolCalls = turn.toolCalls.enumerated().map { index, call in
            ToolCall(id: call.id ?? "\(prefix)_\(number)_\(index)", name: call.name, arguments: call.argumentsText)
        }
        self.finishReason = turn.finishReason ?? (turn.toolCalls.isEmpty ? "stop" : "tool_calls")
        let answerSize =
            turn.text.utf8.count + toolCalls.map { $0.name.utf8.count + $0.arguments.utf8.count }.reduce(0, +)
        self.usage = turn.usage ?? TokenUsage(input: requestSize / 4, output: answerSize / 4)
    }

    // MARK: OpenAI

    /// The OpenAI chat completion (`object: chat.completion`).
    package var openAIBody: JSONValue {
        var message: [String: JSONValue] = [
            "role": "assistant",
            "content": text.isEmpty && !toolCalls.isEmpty ? .null : .string(text),
        ]
        if !toolCalls.isEmpty {
            message["tool_calls"] = .array(
                toolCalls.map { call in
                    [
                        "id": .string(call.id), "type": "function",
                        "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                    ]
                }
            )
        }
        return [
            "id": .string(id), "object": "chat.completion", "created": 0, "model": .string(model),
            "choices": [["index": 0, "message": .object(message), "finish_reason": .string(finishReason)]],
            "usage": openAIUsage,
        ]
    }

    /// The OpenAI stream's chunks, each the payload of one `data:` event, without the final `[DONE]`.
    ///
    /// The first chunk carries the role; text follows in pieces of up to 16 characters; each tool
    /// call's first fragment carries its `index`, `id` and `function.name`, and its arguments follow
    /// in at least three fragments (when at least three characters long). Then comes a chunk with
    /// the `finish_reason` and, when `includesUsage`, a chunk with `choices: []` and the usage, as
    /// OpenAI sends for `stream_options.include_usage`.
    /// - Parameter includesUsage: whether the request asked for usage.
    /// - Returns: the chunks, in order.
    package func openAIChunks(includesUsage: Bool) -> [JSONValue] {
        openAIContentChunks(includesUsage: includesUsage) + openAIClosingChunks(includesUsage: includesUsage)
    }

    /// The chunks up to (not including) the one with the finish reason.
    func openAIContentChunks(includesUsage: Bool) -> [JSONValue] {
        var chunks = [openAIChunk(delta: ["role": "assistant", "content": ""], includesUsage: includesUsage)]
        for piece in Self.pieces(of: text, size: 16) {
            chunks.append(openAIChunk(delta: ["content": .string(piece)], includesUsage: includesUsage))
        }
        for (index, call) in toolCalls.enumerated() {
            let head: JSONValue = [
                "index": .number(Double(index)), "id": .string(call.id), "type": "function",
                "function": ["name": .string(call.name), "arguments": ""],
            ]
            chunks.append(openAIChunk(delta: ["tool_calls": [head]], includesUsage: includesUsage))
            let size = max(1, min(16, (call.arguments.count + 2) / 3))
            for piece in Self.pieces(of: call.arguments, size: size) {
                let fragment: JSONValue = ["index": .number(Double(index)), "function": ["arguments": .string(piece)]]
                chunks.append(openAIChunk(delta: ["tool_calls": [fragment]], includesUsage: includesUsage))
            }
        }
        return chunks
    }

    /// The chunk with the finish reason and, when asked for, the usage chunk.
    func openAIClosingChunks(includesUsage: Bool) -> [JSONValue] {
        var chunks = [openAIChunk(delta: [:], finishReason: finishReason, includesUsage: includesUsage)]
        if includesUsage {
            chunks.append([
                "id": .string(id), "object": "chat.completion.chunk", "created": 0, "model": .string(model),
                "choices": [], "usage": openAIUsage,
            ])
        }
        return chunks
    }

    private func openAIChunk(delta: JSONValue, finishReason: String? = nil, includesUsage: Bool) -> JSONValue {
        var chunk: [String: JSONValue] = [
            "id": .string(id), "object": "chat.completion.chunk", "created": 0, "model": .string(model),
            "choices": [["index": 0, "delta": delta, "finish_reason": finishReason.map { .string($0) } ?? .null]],
        ]
        if includesUsage { chunk["usage"] = .null }
        return .object(chunk)
    }

    private var openAIUsage: JSONValue {
        [
            "prompt_tokens": .number(Double(usage.input)), "completion_tokens": .number(Double(usage.output)),
            "total_tokens": .number(Double(usage.input + usage.output)),
        ]
    }

    // MARK: Anthropic

    /// The Anthropic message (`type: message`): a `text` block when there is text, then one `tool_use`
    /// block per call, whose `input` is the arguments' object, or the arguments' text as a JSON string
    /// when they are not a JSON object.
    package var anthropicBody: JSONValue {
        var content: [JSONValue] = text.isEmpty ? [] : [["type": "text", "text": .string(text)]]
        for call in toolCalls {
            let parsed = JSONValue.parse(call.arguments)
            let input = parsed?.object != nil ? parsed ?? [:] : .string(call.arguments)
            content.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": input])
        }
        return [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
            "content": .array(content), "stop_reason": .string(anthropicStopReason), "stop_sequence": .null,
            "usage": ["input_tokens": .number(Double(usage.input)), "output_tokens": .number(Double(usage.output))],
        ]
    }

    /// The finish reason in Anthropic's words; reasons with no counterpart pass through.
    var anthropicStopReason: String {
        switch finishReason {
        case "tool_calls": "tool_use"
        case "stop": "end_turn"
        case "length": "max_tokens"
        case "content_filter": "refusal"
        default: finishReason
        }
    }

    /// Splits text into pieces of up to `size` characters (never splitting a character).
    static func pieces(of text: String, size: Int) -> [String] {
        var pieces: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            pieces.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return pieces
    }
}
