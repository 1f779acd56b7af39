import Foundation

// The journal's format for an agent's conversation (journal format 1), written out key by key so that
// renaming a case or a label in Swift cannot change what is on disk. It is the layout Swift's synthesized
// coding produced when the format was fixed (runs journaled then must still be read and resumed:
// Tests/Fixtures/journals): an enum case is an object with one key, the case's name; unlabelled
// associated values are `_0`, `_1`. Changing anything here needs a new `Journal.formatVersion` and a
// reader for the old one.

extension ToolCall: Codable {
    private enum Keys: String, CodingKey { case id, name, arguments }

    /// Decodes a journaled tool call.
    /// - Parameter decoder: the decoder.
    /// - Throws: a decoding error.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            name: try container.decode(String.self, forKey: .name),
            arguments: try container.decode(String.self, forKey: .arguments)
        )
    }

    /// Encodes a tool call for the journal.
    /// - Parameter encoder: the encoder.
    /// - Throws: an encoding error.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(arguments, forKey: .arguments)
    }
}

extension TokenUsage: Codable {
    private enum Keys: String, CodingKey { case input, output }

    /// Decodes journaled usage.
    /// - Parameter decoder: the decoder.
    /// - Throws: a decoding error.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        self.init(
            input: try container.decode(Int.self, forKey: .input),
            output: try container.decode(Int.self, forKey: .output)
        )
    }

    /// Encodes usage for the journal.
    /// - Parameter encoder: the encoder.
    /// - Throws: an encoding error.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(input, forKey: .input)
        try container.encode(output, forKey: .output)
    }
}

/// The keys of one-key case objects and their fields.
private struct CaseKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The one case name of a case object, or a decoding error naming what was found.
private func caseName(_ container: KeyedDecodingContainer<CaseKey>, of type: String) throws -> String {
    guard container.allKeys.count == 1, let key = container.allKeys.first else {
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: container.codingPath,
                debugDescription:
                    "a journaled \(type) must be an object with one key, its case; found \(container.allKeys.map(\.stringValue))"
            )
        )
    }
    return key.stringValue
}

private func unknownCase(_ name: String, of type: String, in container: KeyedDecodingContainer<CaseKey>)
    -> DecodingError
{
    .dataCorrupted(.init(codingPath: container.codingPath, debugDescription: "unknown \(type) case '\(name)'"))
}

extension ChatMessage: Codable {
    /// Decodes a journaled message.
    /// - Parameter decoder: the decoder.
    /// - Throws: a decoding error.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CaseKey.self)
        let name = try caseName(container, of: "message")
        let fields = try container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey(name))
        switch name {
        case "system": self = .system(try fields.decode(String.self, forKey: CaseKey("_0")))
        case "user": self = .user(try fields.decode(String.self, forKey: CaseKey("_0")))
        case "assistant":
            self = .assistant(
                text: try fields.decode(String.self, forKey: CaseKey("text")),
                toolCalls: try fields.decode([ToolCall].self, forKey: CaseKey("toolCalls"))
            )
        case "tool":
            self = .tool(
                callID: try fields.decode(String.self, forKey: CaseKey("callID")),
                name: try fields.decode(String.self, forKey: CaseKey("name")),
                content: try fields.decode(String.self, forKey: CaseKey("content"))
            )
        default: throw unknownCase(name, of: "message", in: container)
        }
    }

    /// Encodes a message for the journal.
    /// - Parameter encoder: the encoder.
    /// - Throws: an encoding error.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CaseKey.self)
        switch self {
        case .system(let text):
            var fields = container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey("system"))
            try fields.encode(text, forKey: CaseKey("_0"))
        case .user(let text):
            var fields = container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey("user"))
            try fields.encode(text, forKey: CaseKey("_0"))
        case .assistant(let text, let calls):
            var fields = container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey("assistant"))
            try fields.encode(text, forKey: CaseKey("text"))
            try fields.encode(calls, forKey: CaseKey("toolCalls"))
        case .tool(let callID, let name, let content):
            var fields = container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey("tool"))
            try fields.encode(callID, forKey: CaseKey("callID"))
            try fields.encode(name, forKey: CaseKey("name"))
            try fields.encode(content, forKey: CaseKey("content"))
        }
    }
}

extension AgentEvent: Codable {
    /// Decodes a journaled agent event.
    /// - Parameter decoder: the decoder.
    /// - Throws: a decoding error.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CaseKey.self)
        let name = try caseName(container, of: "agent event")
        let fields = try container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey(name))
        switch name {
        case "message": self = .message(try fields.decode(ChatMessage.self, forKey: CaseKey("_0")))
        case "request":
            self = .request(
                messages: try fields.decode(Int.self, forKey: CaseKey("messages")),
                estimatedTokens: try fields.decode(Int.self, forKey: CaseKey("estimatedTokens"))
            )
        case "response":
            self = .response(
                usage: try fields.decodeIfPresent(TokenUsage.self, forKey: CaseKey("usage")),
                finishReason: try fields.decode(String.self, forKey: CaseKey("finishReason")),
                cost: try fields.decode(Double.self, forKey: CaseKey("cost"))
            )
        case "retry": self = .retry(try fields.decode(String.self, forKey: CaseKey("_0")))
        case "compacted":
            self = .compacted(
                summary: try fields.decode(String.self, forKey: CaseKey("summary")),
                messages: try fields.decode([ChatMessage].self, forKey: CaseKey("messages")),
                removed: try fields.decode(Int.self, forKey: CaseKey("removed"))
            )
        case "budgetExhausted": self = .budgetExhausted(try fields.decode(String.self, forKey: CaseKey("_0")))
        case "finished": self = .finished(try fields.decode(String.self, forKey: CaseKey("_0")))
        default: throw unknownCase(name, of: "agent event", in: container)
        }
    }

    /// Encodes an agent event for the journal.
    /// - Parameter encoder: the encoder.
    /// - Throws: an encoding error.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CaseKey.self)
        func fields(_ name: String) -> KeyedEncodingContainer<CaseKey> {
            container.nestedContainer(keyedBy: CaseKey.self, forKey: CaseKey(name))
        }
        switch self {
        case .message(let message):
            var f = fields("message")
            try f.encode(message, forKey: CaseKey("_0"))
        case .request(let messages, let tokens):
            var f = fields("request")
            try f.encode(messages, forKey: CaseKey("messages"))
            try f.encode(tokens, forKey: CaseKey("estimatedTokens"))
        case .response(let usage, let reason, let cost):
            var f = fields("response")
            try f.encodeIfPresent(usage, forKey: CaseKey("usage"))
            try f.encode(reason, forKey: CaseKey("finishReason"))
            try f.encode(cost, forKey: CaseKey("cost"))
        case .retry(let note):
            var f = fields("retry")
            try f.encode(note, forKey: CaseKey("_0"))
        case .compacted(let summary, let messages, let removed):
            var f = fields("compacted")
            try f.encode(summary, forKey: CaseKey("summary"))
            try f.encode(messages, forKey: CaseKey("messages"))
            try f.encode(removed, forKey: CaseKey("removed"))
        case .budgetExhausted(let budget):
            var f = fields("budgetExhausted")
            try f.encode(budget, forKey: CaseKey("_0"))
        case .finished(let summary):
            var f = fields("finished")
            try f.encode(summary, forKey: CaseKey("_0"))
        }
    }
}
