import KilnAgent

/// One request the scripted server received, read in its protocol's terms, and the checks made on it.
struct ReceivedRequest: Sendable {
    /// The protocol, from the path.
    var wireProtocol: ModelProtocol
    /// The path and query.
    var target: String
    /// The headers, as name and value.
    var headers: [(name: String, value: String)]
    /// The body's text.
    var rawBody: String
    /// The body, or nil when it is not JSON.
    var body: JSONValue?

    /// The body as recorded: the JSON, or the text when it is not JSON.
    var recorded: JSONValue { body ?? .string(rawBody) }

    /// The model the request names.
    var model: String { body?["model"]?.string ?? "scripted" }

    /// Whether the request asks for server-sent events.
    var wantsStream: Bool { body?["stream"]?.bool ?? false }

    /// Whether a streamed answer should end with a usage chunk.
    var includesUsage: Bool { body?["stream_options"]?["include_usage"]?.bool ?? false }

    /// The conversation (for Anthropic, without the system prompt, which is not a message there).
    var messages: [JSONValue] { body?["messages"]?.array ?? [] }

    /// The names of the tools offered.
    var toolNames: [String] {
        (body?["tools"]?.array ?? []).compactMap { tool in tool["function"]?["name"]?.string ?? tool["name"]?.string }
    }

    /// The text of every tool result: OpenAI `tool` messages, Anthropic `tool_result` blocks.
    var toolResults: [String] {
        switch wireProtocol {
        case .openAI:
            return messages.filter { $0["role"]?.string == "tool" }.map { Self.text(of: $0["content"]) }
        case .anthropic:
            return messages.flatMap { message in
                (message["content"]?.array ?? []).filter { $0["type"]?.string == "tool_result" }
                    .map { Self.text(of: $0["content"]) }
            }
        }
    }

    /// The text of the last message: its string content, or its text parts and tool results joined.
    var lastMessageText: String? {
        messages.last.map { Self.text(of: $0["content"]) }
    }

    /// Every piece of text in a message's content.
    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let text): return text
        case .array(let blocks):
            return blocks.map { block in
                if let text = block["text"]?.string { return text }
                if let inner = block["content"] { return text(of: inner) }
                return block.string ?? ""
            }
            .joined(separator: "\n")
        default: return ""
        }
    }

    /// What does not meet the turn's expectation, each naming the turn, what was expected and what came.
    func violations(of expectation: ModelScript.Expectation, turn: Int) -> [String] {
        var found: [String] = []
        if let wanted = expectation.lastMessageContains {
            if let last = lastMessageText {
                if !last.contains(wanted) {
                    found.append(
                        "turn \(turn): expected the last message to contain \(Self.quote(wanted)), "
                            + "but it was \(Self.quote(last))"
                    )
                }
            } else {
                found.append(
                    "turn \(turn): expected the last message to contain \(Self.quote(wanted)), but the request has no messages"
                )
            }
        }
        if let wanted = expectation.toolResultContains, !toolResults.contains(where: { $0.contains(wanted) }) {
            let results = toolResults
            let came =
                results.last.map { "none of its \(results.count) tool results does (the last: \(Self.quote($0)))" }
                ?? "the request has no tool results"
            found.append("turn \(turn): expected a tool result containing \(Self.quote(wanted)), but \(came)")
        }
        if let wanted = expectation.offeredTool, !toolNames.contains(wanted) {
            let offered = toolNames.isEmpty ? "no tools" : toolNames.joined(separator: ", ")
            found.append(
                "turn \(turn): expected the tool \(Self.quote(wanted)) to be offered, but it offers \(offered)"
            )
        }
        if let limit = expectation.maximumMessageCount, messages.count > limit {
            found.append("turn \(turn): expected at most \(limit) messages, but the request has \(messages.count)")
        }
        if let unwanted = expectation.absentText,
            let index = messages.firstIndex(where: { Self.strings(in: $0).contains { $0.contains(unwanted) } })
        {
            let role = messages[index]["role"]?.string ?? "?"
            found.append(
                "turn \(turn): expected no message to contain \(Self.quote(unwanted)), but message \(index + 1) (\(role)) does"
            )
        }
        return found
    }

    /// Every string in a JSON value, and in the JSON text a string holds (tool-call arguments are JSON
    /// sent as a string): what a message says, wherever it says it.
    static func strings(in value: JSONValue) -> [String] {
        switch value {
        case .string(let text):
            guard text.hasPrefix("{") || text.hasPrefix("["), let inner = JSONValue.parse(text) else { return [text] }
            return [text] + strings(in: inner)
        case .array(let items): return items.flatMap(strings(in:))
        case .object(let fields): return fields.values.flatMap(strings(in:))
        default: return []
        }
    }

    /// Where a forbidden secret appears outside the headers that carry keys (`Authorization`,
    /// `x-api-key`): the body, the path and query, other headers. Never quotes the secret.
    func secretViolations(_ secrets: [String], request number: Int) -> [String] {
        var found: [String] = []
        for (index, secret) in secrets.enumerated() where !secret.isEmpty {
            let label = "forbidden secret #\(index + 1)"
            if rawBody.contains(secret) {
                found.append(
                    "request \(number): the body contains \(label); keys belong only in the Authorization or x-api-key header"
                )
            }
            if target.contains(secret) {
                found.append("request \(number): the path or query contains \(label)")
            }
            let keyHeaders: Set<String> = ["authorization", "x-api-key"]
            for header in headers where !keyHeaders.contains(header.name.lowercased()) && header.value.contains(secret)
            {
                found.append("request \(number): the header \(header.name) contains \(label)")
            }
        }
        return found
    }

    /// Text in quotes, shortened to 200 characters.
    static func quote(_ text: String) -> String {
        let short = text.count > 200 ? text.prefix(200) + "…" : Substring(text)
        return "\"\(short)\""
    }
}
