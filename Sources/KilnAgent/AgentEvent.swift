/// One step of an agent's conversation, journaled before it counts; the conversation is a fold of them.
package enum AgentEvent: Sendable, Hashable {
    /// A message joined the conversation (the system prompt, a nudge, the model's answer, a tool's result).
    case message(ChatMessage)
    /// A request was sent with this many messages and about this many tokens.
    case request(messages: Int, estimatedTokens: Int)
    /// The model answered; its usage and cost in dollars.
    case response(usage: TokenUsage?, finishReason: String, cost: Double)
    /// A transient failure, retried.
    case retry(String)
    /// The conversation was compacted: what replaced it.
    case compacted(summary: String, messages: [ChatMessage], removed: Int)
    /// A budget ran out.
    case budgetExhausted(String)
    /// The model (or Kiln, when the model stopped calling tools) ended the work.
    case finished(String)
}

extension AgentEvent {
    /// The event's kind, as stored in a journal.
    package var kind: String {
        switch self {
        case .message: "message"
        case .request: "request"
        case .response: "response"
        case .retry: "retry"
        case .compacted: "compacted"
        case .budgetExhausted: "budget_exhausted"
        case .finished: "finished"
        }
    }
}

/// The conversation and counters, folded from ``AgentEvent``s.
package struct AgentState: Sendable, Hashable {
    /// The conversation as it is now.
    package var messages: [ChatMessage] = []
    /// Tool calls answered.
    package var toolCalls = 0
    /// Requests sent.
    package var requests = 0
    /// Tokens sent and received, as reported.
    package var inputTokens = 0
    /// See ``inputTokens``.
    package var outputTokens = 0
    /// Dollars spent.
    package var cost = 0.0
    /// Compactions done.
    package var compactions = 0
    /// Consecutive answers without tool calls.
    package var idleAnswers = 0
    /// The summary, once finished.
    package var finishedSummary: String?
    /// The largest request sent, in estimated tokens.
    package var largestRequest = 0

    /// The empty state.
    package init() {}

    /// Folds one event.
    /// - Parameter event: the event.
    package mutating func apply(_ event: AgentEvent) {
        switch event {
        case .message(let message):
            messages.append(message)
            switch message {
            case .tool(let id, let name, _):
                toolCalls += 1
                if WrittenContent.isElided(in: name) { elideArguments(ofCall: id) }
            case .assistant(_, let calls): idleAnswers = calls.isEmpty ? idleAnswers + 1 : 0
            default: break
            }
        case .request(_, let tokens):
            requests += 1
            largestRequest = max(largestRequest, tokens)
        case .response(let usage, _, let spent):
            inputTokens += usage?.input ?? 0
            outputTokens += usage?.output ?? 0
            cost += spent
        case .retry, .budgetExhausted: break
        case .compacted(_, let replacement, _):
            messages = replacement
            compactions += 1
        case .finished(let summary):
            finishedSummary = summary
        }
    }

    /// Replaces the file body in an answered call's arguments (in the answer that made it, among the
    /// last messages) with a note: the journal keeps the whole answer, the conversation only the note.
    private mutating func elideArguments(ofCall id: String) {
        guard
            let index = messages.indices.reversed().first(where: { index in
                if case .assistant(_, let calls) = messages[index] { return calls.contains { $0.id == id } }
                return false
            }), case .assistant(let text, var calls) = messages[index],
            let position = calls.firstIndex(where: { $0.id == id })
        else { return }
        calls[position].arguments = WrittenContent.elided(calls[position].arguments)
        messages[index] = .assistant(text: text, toolCalls: calls)
    }

    /// Tool calls of the last answer that have no result yet (interrupted by a crash).
    package var pendingCalls: [ToolCall] {
        guard let index = messages.lastIndex(where: { if case .assistant = $0 { true } else { false } }),
            case .assistant(_, let calls) = messages[index]
        else { return [] }
        let answered = Set(
            messages[(index + 1)...].compactMap { message -> String? in
                if case .tool(let id, _, _) = message { return id }
                return nil
            }
        )
        return calls.filter { !answered.contains($0.id) }
    }
}
