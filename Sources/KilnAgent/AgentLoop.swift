import Foundation

/// Budgets of an agent run; the run stops cleanly at the first one reached.
package struct AgentBudgets: Sendable, Hashable, Codable {
    /// The most tool calls.
    package var toolCalls: Int?
    /// The most tokens, sent and received together.
    package var tokens: Int?
    /// The most dollars.
    package var dollars: Double?

    /// Creates budgets.
    /// - Parameters:
    ///   - toolCalls: the most tool calls.
    ///   - tokens: the most tokens.
    ///   - dollars: the most dollars.
    package init(toolCalls: Int? = nil, tokens: Int? = nil, dollars: Double? = nil) {
        self.toolCalls = toolCalls
        self.tokens = tokens
        self.dollars = dollars
    }
}

/// Where an agent's events go (the run's journal) and what the loop asks of the run around it.
package protocol AgentHost: AnyObject {
    /// Journals an event; it counts only once this returns.
    func record(_ event: AgentEvent) throws
    /// The run's own budgets (wall time, evaluations): a reason to stop, or nil.
    func exhaustedBudget() -> String?
    /// The notes, leaderboard and design tracks, kept verbatim through compaction.
    func compactionContext() -> String
}

/// How an agent loop ended.
package enum AgentEnding: Sendable, Hashable {
    /// The model called `finish`, or stopped calling tools after being nudged.
    case finished(String)
    /// A budget ran out.
    case budget(String)
    /// The task was cancelled (Ctrl-C).
    case interrupted
}

/// The loop of one agent run: send the conversation, journal the answer, run the tools it calls,
/// journal their results, repeat, within budgets; compacting the context as it grows.
package struct AgentLoop {
    /// The model (retries are inside it).
    package var model: any ChatModel
    /// The tools.
    package var toolbox: any AgentToolbox
    /// Budgets of the conversation.
    package var budgets: AgentBudgets
    /// Context management.
    package var compactor: Compactor
    /// Prices, for the money budget.
    package var prices: ModelPrices?
    /// Nudges sent before a model that stopped calling tools is considered done.
    package var maxNudges = 2

    /// Creates a loop.
    /// - Parameters:
    ///   - model: the model.
    ///   - toolbox: the tools.
    ///   - budgets: the budgets.
    ///   - compactor: context management.
    ///   - prices: prices for the money budget.
    package init(
        model: any ChatModel,
        toolbox: any AgentToolbox,
        budgets: AgentBudgets,
        compactor: Compactor,
        prices: ModelPrices?
    ) {
        self.model = model
        self.toolbox = toolbox
        self.budgets = budgets
        self.compactor = compactor
        self.prices = prices
    }

    /// Runs until the model finishes, a budget runs out, or the task is cancelled.
    /// - Parameters:
    ///   - initial: the conversation so far (from the journal; it starts with the system prompt).
    ///   - host: the journal and the run's budgets.
    /// - Returns: how it ended.
    /// - Throws: ``ModelError`` when the model cannot be reached after retries (the run stays resumable),
    ///   or what ``AgentHost/record(_:)`` throws.
    package func run(state initial: AgentState, host: any AgentHost) async throws -> AgentEnding {
        var state = initial
        func record(_ event: AgentEvent) throws {
            try host.record(event)
            state.apply(event)
        }
        if let summary = state.finishedSummary { return .finished(summary) }
        while true {
            // A crash may have left tool calls unanswered: run them now (evaluations are idempotent).
            for call in state.pendingCalls {
                if Task.isCancelled { return .interrupted }
                let outcome = await runTool(call)
                try record(.message(.tool(callID: call.id, name: call.name, content: outcome.content)))
                if let summary = outcome.finishes {
                    try record(.finished(summary))
                    return .finished(summary)
                }
            }
            if Task.isCancelled { return .interrupted }
            if let budget = exhaustedBudget(state) ?? host.exhaustedBudget() {
                try record(.budgetExhausted(budget))
                return .budget(budget)
            }
            if compactor.isDue(state.messages, tools: toolbox.definitions),
                let compaction = await compaction(of: state.messages, host: host)
            {
                try record(compaction)
            }
            let response: ChatResponse
            do {
                response = try await send(state, record: record)
            } catch let error as ModelError where error.code == .contextOverflow {
                guard let compaction = await compaction(of: state.messages, host: host) else { throw error }
                try record(compaction)
                response = try await send(state, record: record)
            }
            let cost = prices.map { prices in response.usage.map(prices.cost(of:)) ?? 0 } ?? 0
            try record(.response(usage: response.usage, finishReason: response.finishReason, cost: cost))
            try record(.message(.assistant(text: response.text, toolCalls: response.toolCalls)))
            if response.toolCalls.isEmpty {
                if state.idleAnswers > maxNudges {
                    let summary = "the model stopped calling tools: \(response.text.prefix(500))"
                    try record(.finished(summary))
                    return .finished(summary)
                }
                try record(
                    .message(
                        .user(
                            "Continue by calling a tool: evaluate or redesign the kernel, or call finish with a summary if you are done."
                        )
                    )
                )
            }
        }
    }

    private func send(_ state: AgentState, record: (AgentEvent) throws -> Void) async throws -> ChatResponse {
        let request = ChatRequest(messages: state.messages, tools: toolbox.definitions)
        try record(
            .request(
                messages: request.messages.count,
                estimatedTokens: Compactor.estimate(request.messages, tools: request.tools)
            )
        )
        return try await model.complete(request)
    }

    /// The event that compacts a conversation, or nil when there is nothing to remove.
    private func compaction(of messages: [ChatMessage], host: any AgentHost) async -> AgentEvent? {
        guard let result = await compactor.compact(messages, context: host.compactionContext(), model: model) else {
            return nil
        }
        return .compacted(summary: result.summary, messages: result.messages, removed: result.removed)
    }

    private func exhaustedBudget(_ state: AgentState) -> String? {
        if let max = budgets.toolCalls, state.toolCalls >= max { return "tool calls" }
        if let max = budgets.tokens, state.inputTokens + state.outputTokens >= max { return "tokens" }
        if let max = budgets.dollars, state.cost >= max { return "money" }
        return nil
    }

    /// Runs one call; malformed arguments go back to the model as an error it can fix.
    private func runTool(_ call: ToolCall) async -> ToolOutcome {
        guard toolbox.definitions.contains(where: { $0.name == call.name }) else {
            let names = toolbox.definitions.map(\.name).joined(separator: ", ")
            return .error("there is no tool '\(Redactor(model.secrets).redact(call.name))'; the tools are \(names)")
        }
        let trimmed = call.arguments.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let parsed = JSONValue.parse(trimmed.isEmpty ? "{}" : trimmed), let arguments = parsed.object else {
            return .error(
                "the arguments of \(call.name) are not a valid JSON object (\(call.arguments.prefix(200))); call it again with a JSON object matching its schema"
            )
        }
        var outcome = await toolbox.run(call.name, arguments: arguments)
        // Whatever a tool printed (a shell that found a key somewhere), no secret reaches the journal or the model.
        outcome.content = Redactor(model.secrets).redact(outcome.content)
        return outcome
    }
}
