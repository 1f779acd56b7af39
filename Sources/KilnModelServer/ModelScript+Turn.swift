package import KilnAgent
import KilnCore

extension ModelScript {
    /// One answer of a script, consumed by one request.
    package struct Turn: Sendable, Hashable, Codable {
        /// What the request must contain (`expect`).
        package var expectation: Expectation?
        /// How long to wait before answering (`delay_ms`).
        package var delay: Duration
        /// Whether to stream the answer; nil follows the request's `stream` flag (`stream`).
        package var isStreaming: Bool?
        /// The HTTP status; anything but 200 answers an error (`status`).
        package var status: Int
        /// The body of an error answer; nil sends a JSON error in the request's protocol (`error_body`).
        package var errorBody: JSONValue?
        /// The `Retry-After` of an error answer (`retry_after`, in seconds).
        package var retryAfter: Duration?
        /// A `Retry-After` header sent verbatim, malformed or not (`retry_after_header`), for testing what a
        /// client does with `inf` or a date.
        package var retryAfterHeader: String?
        /// Whether to close the connection instead of finishing the answer (`drop_connection`).
        package var dropsConnection: Bool
        /// Whether to end the answer early but cleanly (`truncate`).
        package var truncates: Bool
        /// What the model says (`text`).
        package var text: String
        /// The tools the model calls (`tool_calls`).
        package var toolCalls: [ScriptedToolCall]
        /// Why the model stopped, in OpenAI's words; nil picks `tool_calls` or `stop` (`finish_reason`).
        package var finishReason: String?
        /// The tokens reported; nil estimates them from the sizes of request and answer (`usage`).
        package var usage: TokenUsage?

        /// Creates a turn.
        /// - Parameters:
        ///   - text: what the model says.
        ///   - toolCalls: the tools it calls.
        ///   - expectation: what the request must contain.
        ///   - delay: how long to wait before answering.
        ///   - isStreaming: whether to stream; nil follows the request.
        ///   - status: the HTTP status.
        ///   - errorBody: the body of an error answer.
        ///   - retryAfter: the `Retry-After` of an error answer.
        ///   - retryAfterHeader: a `Retry-After` header sent verbatim.
        ///   - dropsConnection: whether to close the connection instead of finishing.
        ///   - truncates: whether to end the answer early but cleanly.
        ///   - finishReason: why the model stopped.
        ///   - usage: the tokens reported.
        package init(
            text: String = "",
            toolCalls: [ScriptedToolCall] = [],
            expectation: Expectation? = nil,
            delay: Duration = .zero,
            isStreaming: Bool? = nil,
            status: Int = 200,
            errorBody: JSONValue? = nil,
            retryAfter: Duration? = nil,
            retryAfterHeader: String? = nil,
            dropsConnection: Bool = false,
            truncates: Bool = false,
            finishReason: String? = nil,
            usage: TokenUsage? = nil
        ) {
            self.text = text
            self.toolCalls = toolCalls
            self.expectation = expectation
            self.delay = delay
            self.isStreaming = isStreaming
            self.status = status
            self.errorBody = errorBody
            self.retryAfter = retryAfter
            self.retryAfterHeader = retryAfterHeader
            self.dropsConnection = dropsConnection
            self.truncates = truncates
            self.finishReason = finishReason
            self.usage = usage
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case expectation = "expect"
            case delay = "delay_ms"
            case isStreaming = "stream"
            case status
            case errorBody = "error_body"
            case retryAfter = "retry_after"
            case retryAfterHeader = "retry_after_header"
            case dropsConnection = "drop_connection"
            case truncates = "truncate"
            case text
            case toolCalls = "tool_calls"
            case finishReason = "finish_reason"
            case usage
        }

        enum UsageKeys: String, CodingKey, CaseIterable {
            case input = "prompt_tokens"
            case output = "completion_tokens"
        }

        package init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.expectation = try container.decodeIfPresent(Expectation.self, forKey: .expectation)
            self.delay = .milliseconds(try container.decodeIfPresent(Int.self, forKey: .delay) ?? 0)
            self.isStreaming = try container.decodeIfPresent(Bool.self, forKey: .isStreaming)
            self.status = try container.decodeIfPresent(Int.self, forKey: .status) ?? 200
            self.errorBody = try container.decodeIfPresent(JSONValue.self, forKey: .errorBody)
            if let seconds = try container.decodeIfPresent(Double.self, forKey: .retryAfter) {
                guard let duration = Duration.checkedSeconds(seconds) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .retryAfter,
                        in: container,
                        debugDescription: "retry_after must be a number of seconds from 0 to a year, not \(seconds)"
                    )
                }
                self.retryAfter = duration
            } else {
                self.retryAfter = nil
            }
            self.retryAfterHeader = try container.decodeIfPresent(String.self, forKey: .retryAfterHeader)
            self.dropsConnection = try container.decodeIfPresent(Bool.self, forKey: .dropsConnection) ?? false
            self.truncates = try container.decodeIfPresent(Bool.self, forKey: .truncates) ?? false
            self.text = try container.decodeIfPresent(String.self, forKey: .text) ?? ""
            self.toolCalls = try container.decodeIfPresent([ScriptedToolCall].self, forKey: .toolCalls) ?? []
            self.finishReason = try container.decodeIfPresent(String.self, forKey: .finishReason)
            if container.contains(.usage) {
                let usageDecoder = try container.superDecoder(forKey: .usage)
                try rejectUnknownKeys(in: usageDecoder, known: UsageKeys.allCases.map(\.rawValue))
                let usage = try usageDecoder.container(keyedBy: UsageKeys.self)
                self.usage = TokenUsage(
                    input: try usage.decodeIfPresent(Int.self, forKey: .input) ?? 0,
                    output: try usage.decodeIfPresent(Int.self, forKey: .output) ?? 0
                )
            } else {
                self.usage = nil
            }
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(expectation, forKey: .expectation)
            if delay != .zero { try container.encode(delay.inMilliseconds, forKey: .delay) }
            try container.encodeIfPresent(isStreaming, forKey: .isStreaming)
            if status != 200 { try container.encode(status, forKey: .status) }
            try container.encodeIfPresent(errorBody, forKey: .errorBody)
            try container.encodeIfPresent(retryAfter?.inSeconds, forKey: .retryAfter)
            try container.encodeIfPresent(retryAfterHeader, forKey: .retryAfterHeader)
            if dropsConnection { try container.encode(dropsConnection, forKey: .dropsConnection) }
            if truncates { try container.encode(truncates, forKey: .truncates) }
            if !text.isEmpty { try container.encode(text, forKey: .text) }
            if !toolCalls.isEmpty { try container.encode(toolCalls, forKey: .toolCalls) }
            try container.encodeIfPresent(finishReason, forKey: .finishReason)
            if let usage {
                var nested = container.nestedContainer(keyedBy: UsageKeys.self, forKey: .usage)
                try nested.encode(usage.input, forKey: .input)
                try nested.encode(usage.output, forKey: .output)
            }
        }

        /// What is wrong with the turn, each starting with the key at fault.
        var problems: [String] {
            var problems: [String] = []
            if !(200...599).contains(status) {
                problems.append("status: \(status) is not an HTTP status Kiln's clients can get; use 200 to 599")
            }
            if delay < .zero { problems.append("delay_ms: must not be negative") }
            if let retryAfter, retryAfter < .zero { problems.append("retry_after: must not be negative") }
            if dropsConnection && truncates {
                problems.append("truncate: a turn cannot both drop the connection and truncate the answer; pick one")
            }
            if let limit = expectation?.maximumMessageCount, limit < 0 {
                problems.append("expect.message_count_at_most: must not be negative")
            }
            if expectation?.absentText?.isEmpty == true {
                problems.append("expect.request_lacks: must not be empty (every request contains the empty text)")
            }
            for (index, call) in toolCalls.enumerated() {
                problems += call.problems.map { "tool_calls[\(index)].\($0)" }
            }
            return problems
        }
    }

    /// What a request must contain; each condition left out is not checked.
    package struct Expectation: Sendable, Hashable, Codable {
        /// Text the last message must contain (`last_message_contains`).
        package var lastMessageContains: String?
        /// Text some tool result of the request must contain (`tool_result_contains`).
        package var toolResultContains: String?
        /// A tool the request must offer (`has_tool`).
        package var offeredTool: String?
        /// The most messages the request may hold (`message_count_at_most`).
        package var maximumMessageCount: Int?
        /// Text no message of the request may contain anywhere: contents, tool results, tool-call
        /// arguments (`request_lacks`).
        package var absentText: String?

        /// Creates an expectation.
        /// - Parameters:
        ///   - lastMessageContains: text the last message must contain.
        ///   - toolResultContains: text some tool result must contain.
        ///   - offeredTool: a tool the request must offer.
        ///   - maximumMessageCount: the most messages the request may hold.
        ///   - absentText: text no message of the request may contain.
        package init(
            lastMessageContains: String? = nil,
            toolResultContains: String? = nil,
            offeredTool: String? = nil,
            maximumMessageCount: Int? = nil,
            absentText: String? = nil
        ) {
            self.lastMessageContains = lastMessageContains
            self.toolResultContains = toolResultContains
            self.offeredTool = offeredTool
            self.maximumMessageCount = maximumMessageCount
            self.absentText = absentText
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case lastMessageContains = "last_message_contains"
            case toolResultContains = "tool_result_contains"
            case offeredTool = "has_tool"
            case maximumMessageCount = "message_count_at_most"
            case absentText = "request_lacks"
        }

        package init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.lastMessageContains = try container.decodeIfPresent(String.self, forKey: .lastMessageContains)
            self.toolResultContains = try container.decodeIfPresent(String.self, forKey: .toolResultContains)
            self.offeredTool = try container.decodeIfPresent(String.self, forKey: .offeredTool)
            self.maximumMessageCount = try container.decodeIfPresent(Int.self, forKey: .maximumMessageCount)
            self.absentText = try container.decodeIfPresent(String.self, forKey: .absentText)
        }
    }

    /// A tool call a turn answers with.
    package struct ScriptedToolCall: Sendable, Hashable, Codable {
        /// The tool's name (`name`).
        package var name: String
        /// The arguments, sent as compact JSON text (`arguments`).
        package var arguments: JSONValue?
        /// The arguments' text, sent verbatim, malformed or not (`arguments_raw`).
        package var rawArguments: String?
        /// The call's id; nil makes one from the turn and the call's position (`id`).
        package var id: String?

        /// Creates a tool call.
        /// - Parameters:
        ///   - name: the tool's name.
        ///   - arguments: the arguments, sent as compact JSON text.
        ///   - rawArguments: the arguments' text, sent verbatim; takes the place of `arguments`.
        ///   - id: the call's id.
        package init(name: String, arguments: JSONValue? = nil, rawArguments: String? = nil, id: String? = nil) {
            self.name = name
            self.arguments = arguments
            self.rawArguments = rawArguments
            self.id = id
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name
            case arguments
            case rawArguments = "arguments_raw"
            case id
        }

        package init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try container.decode(String.self, forKey: .name)
            self.arguments = try container.decodeIfPresent(JSONValue.self, forKey: .arguments)
            self.rawArguments = try container.decodeIfPresent(String.self, forKey: .rawArguments)
            self.id = try container.decodeIfPresent(String.self, forKey: .id)
        }

        /// The arguments as sent: `arguments_raw` verbatim, else `arguments` as JSON, else `{}`.
        package var argumentsText: String {
            rawArguments ?? arguments?.text ?? "{}"
        }

        var problems: [String] {
            var problems: [String] = []
            if name.isEmpty { problems.append("name: must not be empty") }
            if arguments != nil && rawArguments != nil {
                problems.append("arguments_raw: give either arguments or arguments_raw, not both")
            }
            return problems
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var inMilliseconds: Int {
        Int(components.seconds) * 1000 + Int(components.attoseconds / 1_000_000_000_000_000)
    }
}
