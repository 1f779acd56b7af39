import Foundation

/// One tool call the model asked for.
package struct ToolCall: Hashable, Sendable {
    /// The call's id, echoed in its result.
    package var id: String
    /// The tool's name.
    package var name: String
    /// The arguments as the model wrote them (JSON text, possibly malformed).
    package var arguments: String

    /// Creates a tool call.
    /// - Parameters:
    ///   - id: the call's id.
    ///   - name: the tool's name.
    ///   - arguments: the arguments' JSON text.
    package init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One message of a conversation, in a provider-neutral form.
package enum ChatMessage: Hashable, Sendable {
    /// Instructions.
    case system(String)
    /// What the user (or Kiln, nudging) says.
    case user(String)
    /// What the model said and the tools it called.
    case assistant(text: String, toolCalls: [ToolCall])
    /// The result of one tool call.
    case tool(callID: String, name: String, content: String)

    /// The message's text, for counting and summaries.
    package var text: String {
        switch self {
        case .system(let text), .user(let text): text
        case .assistant(let text, let calls): text + calls.map { " \($0.name)(\($0.arguments))" }.joined()
        case .tool(_, let name, let content): "\(name): \(content)"
        }
    }
}

/// A tool the model may call.
package struct ToolDefinition: Hashable, Sendable, Codable {
    /// Its name.
    package var name: String
    /// What it does and when to use it.
    package var description: String
    /// The JSON schema of its arguments.
    package var parameters: JSONValue

    /// Creates a tool definition.
    /// - Parameters:
    ///   - name: its name.
    ///   - description: what it does.
    ///   - parameters: the JSON schema of its arguments.
    package init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// Tokens a request used, as the provider reported them.
package struct TokenUsage: Hashable, Sendable {
    /// Tokens sent.
    package var input: Int
    /// Tokens generated.
    package var output: Int

    /// Creates a usage record.
    /// - Parameters:
    ///   - input: tokens sent.
    ///   - output: tokens generated.
    package init(input: Int, output: Int) {
        self.input = input
        self.output = output
    }
}

/// One request to a model.
package struct ChatRequest: Hashable, Sendable, Codable {
    /// The conversation so far.
    package var messages: [ChatMessage]
    /// The tools offered.
    package var tools: [ToolDefinition]

    /// Creates a request.
    /// - Parameters:
    ///   - messages: the conversation.
    ///   - tools: the tools offered.
    package init(messages: [ChatMessage], tools: [ToolDefinition]) {
        self.messages = messages
        self.tools = tools
    }
}

/// One answer from a model.
package struct ChatResponse: Hashable, Sendable, Codable {
    /// What it said.
    package var text: String
    /// The tools it called.
    package var toolCalls: [ToolCall]
    /// Why it stopped, as the provider said it ("stop", "tool_calls", "length", "content_filter", ...).
    package var finishReason: String
    /// Tokens used, when reported.
    package var usage: TokenUsage?

    /// Creates a response.
    /// - Parameters:
    ///   - text: what the model said.
    ///   - toolCalls: the tools it called.
    ///   - finishReason: why it stopped.
    ///   - usage: tokens used.
    package init(text: String, toolCalls: [ToolCall], finishReason: String, usage: TokenUsage?) {
        self.text = text
        self.toolCalls = toolCalls
        self.finishReason = finishReason
        self.usage = usage
    }
}

/// A language model that answers chat requests with text and tool calls.
package protocol ChatModel: Sendable {
    /// A label for journals and reports, such as `openai:gpt-4o` or `scripted:run.json`.
    var label: String { get }

    /// Secrets this model holds (its API key): redacted from every tool result before it is journaled
    /// or sent, whatever printed them.
    var secrets: [String] { get }

    /// Sends one request.
    /// - Parameter request: the conversation and tools.
    /// - Returns: the model's answer.
    /// - Throws: ``ModelError``.
    func complete(_ request: ChatRequest) async throws(ModelError) -> ChatResponse
}

extension ChatModel {
    /// Most models hold no secret.
    package var secrets: [String] { [] }
}

/// Replaces every occurrence of a secret (and its Base64 form) with `[redacted]`.
package struct Redactor: Sendable {
    private let secrets: [String]

    /// Creates a redactor; secrets shorter than 8 characters are ignored (they would match ordinary text).
    /// - Parameter secrets: the secrets.
    package init(_ secrets: [String]) {
        var all: [String] = []
        for secret in secrets where secret.count >= 8 {
            all.append(secret)
            all.append(Data(secret.utf8).base64EncodedString().trimmingCharacters(in: CharacterSet(charactersIn: "=")))
        }
        self.secrets = all.sorted { $0.count > $1.count }
    }

    /// The text with every secret replaced.
    /// - Parameter text: the text.
    /// - Returns: it, redacted.
    package func redact(_ text: String) -> String {
        var out = text
        for secret in secrets where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "[redacted]")
        }
        return out
    }
}
