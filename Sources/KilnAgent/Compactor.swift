/// Keeps the conversation within the model's context: when it passes a threshold, the middle is
/// replaced by a summary (written by the model, or a deterministic one if that fails), keeping the
/// system prompt, the notes, the leaderboard and the last turns verbatim.
package struct Compactor: Sendable {
    /// The model's context, in tokens.
    package var contextLimit: Int
    /// Compact when a request would pass this fraction of the context.
    package var threshold = 0.6
    /// Messages kept verbatim at the end.
    package var keptMessages = 8

    /// Creates a compactor.
    /// - Parameter contextLimit: the model's context, in tokens.
    package init(contextLimit: Int) {
        self.contextLimit = contextLimit
    }

    /// A cheap token estimate: about four characters a token, plus a few per message.
    /// - Parameters:
    ///   - messages: the conversation.
    ///   - tools: the tools sent with it.
    /// - Returns: tokens.
    package static func estimate(_ messages: [ChatMessage], tools: [ToolDefinition] = []) -> Int {
        messages.reduce(0) { $0 + $1.text.utf8.count / 4 + 6 }
            + tools.reduce(0) { $0 + ($1.description.count + $1.parameters.text.count) / 4 }
    }

    /// Whether a conversation should be compacted before the next request.
    /// - Parameters:
    ///   - messages: the conversation.
    ///   - tools: the tools sent with it.
    /// - Returns: true when it is past the threshold.
    package func isDue(_ messages: [ChatMessage], tools: [ToolDefinition]) -> Bool {
        Double(Self.estimate(messages, tools: tools)) > threshold * Double(contextLimit)
    }

    /// Where the verbatim tail starts: the last `keptMessages`, moved back so a tool result is never
    /// separated from the call that asked for it.
    func tailStart(_ messages: [ChatMessage]) -> Int {
        var start = max(messages.count - keptMessages, 1)
        while start > 1, start < messages.count, case .tool = messages[start] { start -= 1 }
        return start
    }

    /// Compacts a conversation.
    /// - Parameters:
    ///   - messages: the conversation; the first message is the system prompt.
    ///   - context: the notes, leaderboard and design tracks, kept verbatim.
    ///   - model: the model, asked for a summary; nil for the deterministic summary only.
    /// - Returns: the summary and the new conversation, or nil when there is nothing to remove.
    package func compact(_ messages: [ChatMessage], context: String, model: (any ChatModel)?) async
        -> (summary: String, messages: [ChatMessage], removed: Int)?
    {
        let start = tailStart(messages)
        guard start > 2 else { return nil }
        let middle = Array(messages[1..<start])
        var summary = Self.deterministicSummary(middle)
        if let model {
            let request = ChatRequest(
                messages: [
                    .system(
                        "You summarise the history of a kernel-optimisation session for your own later use. Keep: what designs were tried and their measured speedups and failures, what was learned about the machine, and what to try next. Be concise: at most 400 words."
                    ),
                    .user(ToolText.capped(Self.summaryInput(middle), limit: 40_000)),
                ],
                tools: []
            )
            if let answer = try? await model.complete(request), !answer.text.isEmpty { summary = answer.text }
        }
        let bridge = ChatMessage.user(
            "Earlier work was compacted to save context.\n\n## Summary\n\(summary)\n\n\(context)\n\nContinue from here."
        )
        return (summary, [messages[0], bridge] + messages[start...], middle.count)
    }

    /// What the summariser reads of the messages it replaces: everything but file bodies. A
    /// `read_file` result becomes its size (the call before it names the file), and a long string
    /// argument of a tool call (a `write_file` content, a large edit) its size: the files are in the
    /// workspace, and the summary should hold what was tried and measured, not code.
    /// - Parameter messages: the messages being compacted.
    /// - Returns: the text to summarise.
    package static func summaryInput(_ messages: [ChatMessage]) -> String {
        messages.map { message -> String in
            switch message {
            case .assistant(let text, let calls):
                return text + calls.map { " \($0.name)(\(bodiesElided($0.arguments, longerThan: 300)))" }.joined()
            case .tool(_, "read_file", let content):
                return "read_file: (file text, \(content.count) characters, left out)"
            default:
                return message.text
            }
        }
        .joined(separator: "\n")
    }

    /// Tool-call arguments with every string longer than `limit` characters replaced by its size.
    private static func bodiesElided(_ arguments: String, longerThan limit: Int) -> String {
        guard case .object(let object)? = JSONValue.parse(arguments) else { return String(arguments.prefix(limit)) }
        return JSONValue.object(
            object.mapValues { value in
                guard let text = value.string, text.count > limit else { return value }
                return .string("(\(text.count) characters, left out)")
            }
        ).text
    }

    /// A summary built without the model: every tool call made, with the first line of its result.
    /// - Parameter messages: the messages removed.
    /// - Returns: the summary.
    package static func deterministicSummary(_ messages: [ChatMessage]) -> String {
        var lines: [String] = []
        var names: [String: String] = [:]
        for message in messages {
            switch message {
            case .assistant(_, let calls):
                for call in calls {
                    names[call.id] = "\(call.name)(\(bodiesElided(call.arguments, longerThan: 40).prefix(100)))"
                }
            case .tool(let id, let name, let content):
                let first = content.split(separator: "\n").first.map(String.init) ?? ""
                lines.append("- \(names[id] ?? name): \(first.prefix(100))")
            default: continue
            }
        }
        let kept = lines.suffix(40)
        return (lines.count > kept.count ? ["- … \(lines.count - kept.count) earlier calls"] : []).joined()
            + kept.joined(separator: "\n")
    }
}
