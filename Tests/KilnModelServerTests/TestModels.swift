import Foundation
import KilnAgent
import KilnModelServer
import Synchronization

/// Real clients pointed at a scripted server, and the requests the tests send.
enum TestModels {
    /// The API key the clients send; it must never reach a body or a message.
    static let key = "sk-kiln-test-7f3a9c2e41d8"
    /// The variable the key is said to come from.
    static let keyVariable = "KILN_TEST_API_KEY"

    /// An OpenAI-compatible client of the server at `baseURL`.
    static func openAI(_ baseURL: URL, streaming: Bool, timeout: Duration = .seconds(10)) -> OpenAIChatClient {
        var configuration = ModelConfiguration(
            wireProtocol: .openAI,
            baseURL: baseURL.absoluteString + "/v1",
            model: "scripted-gpt",
            apiKeyVariable: keyVariable,
            apiKey: key
        )
        configuration.isStreaming = streaming
        configuration.requestTimeout = timeout
        return OpenAIChatClient(configuration: configuration)
    }

    /// An Anthropic client of the server at `baseURL`.
    static func anthropic(_ baseURL: URL, timeout: Duration = .seconds(10)) -> AnthropicClient {
        var configuration = ModelConfiguration(
            wireProtocol: .anthropic,
            baseURL: baseURL.absoluteString,
            model: "scripted-claude",
            apiKeyVariable: keyVariable,
            apiKey: key
        )
        configuration.requestTimeout = timeout
        return AnthropicClient(configuration: configuration)
    }

    /// Retries with tiny delays.
    static func retrying(_ model: any ChatModel, retries: RetryLog) -> RetryingModel {
        RetryingModel(model, maxAttempts: 4, baseDelay: .milliseconds(1), maxDelay: .milliseconds(5)) {
            error,
            _,
            delay in
            retries.append(error, delay)
        }
    }

    static let tools = [
        ToolDefinition(
            name: "write_file",
            description: "Writes a file.",
            parameters: ["type": "object", "properties": ["path": ["type": "string"], "content": ["type": "string"]]]
        ),
        ToolDefinition(name: "evaluate", description: "Evaluates a candidate.", parameters: ["type": "object"]),
    ]

    /// A first request: instructions, a user message and the tools.
    static let opening = ChatRequest(
        messages: [.system("You optimise C kernels."), .user("Make the attention kernel faster.")],
        tools: tools
    )
}

/// The retries a ``RetryingModel`` made.
final class RetryLog: Sendable {
    private let entries = Mutex<[(code: ModelError.Code, delay: Duration)]>([])

    func append(_ error: ModelError, _ delay: Duration) {
        entries.withLock { $0.append((error.code, delay)) }
    }

    var codes: [ModelError.Code] { entries.withLock { $0.map(\.code) } }
    var delays: [Duration] { entries.withLock { $0.map(\.delay) } }
}
