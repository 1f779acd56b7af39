/// Which wire protocol an endpoint speaks.
package enum ModelProtocol: String, Sendable, Codable, Hashable {
    /// OpenAI-compatible chat completions (OpenAI, Qwen on Model Studio, vLLM, SGLang, Ollama, llama.cpp).
    case openAI = "openai"
    /// The Anthropic Messages API.
    case anthropic
}

/// Prices of a model, in US dollars per million tokens.
package struct ModelPrices: Sendable, Codable, Hashable {
    /// Per million input tokens.
    package var input: Double
    /// Per million output tokens.
    package var output: Double

    /// Creates prices.
    /// - Parameters:
    ///   - input: dollars per million input tokens.
    ///   - output: dollars per million output tokens.
    package init(input: Double, output: Double) {
        self.input = input
        self.output = output
    }

    /// The cost of some usage.
    /// - Parameter usage: tokens used.
    /// - Returns: dollars.
    package func cost(of usage: TokenUsage) -> Double {
        (Double(usage.input) * input + Double(usage.output) * output) / 1e6
    }
}

/// How to reach a model: resolved at the edge (flags over config file over presets) and passed down.
///
/// The key itself is held here only in memory; journals record ``redacted`` instead.
package struct ModelConfiguration: Sendable, Hashable {
    /// The wire protocol.
    package var wireProtocol: ModelProtocol
    /// The API's base URL, such as `https://api.openai.com/v1`.
    package var baseURL: String
    /// The model's name at the endpoint.
    package var model: String
    /// The environment variable the key was read from, for messages.
    package var apiKeyVariable: String?
    /// The key (never logged, journaled or printed).
    package var apiKey: String?
    /// The deadline of one request.
    package var requestTimeout: Duration = .seconds(300)
    /// Sampling temperature.
    package var temperature: Double? = nil
    /// Ask for server-sent events.
    package var isStreaming = true
    /// The most output tokens per answer.
    package var maxOutputTokens = 8192
    /// Prices, for the money budget; nil when unknown.
    package var prices: ModelPrices?

    /// Creates a configuration.
    /// - Parameters:
    ///   - wireProtocol: the wire protocol.
    ///   - baseURL: the API's base URL.
    ///   - model: the model's name.
    ///   - apiKeyVariable: the environment variable holding the key.
    ///   - apiKey: the key.
    package init(
        wireProtocol: ModelProtocol,
        baseURL: String,
        model: String,
        apiKeyVariable: String?,
        apiKey: String?
    ) {
        self.wireProtocol = wireProtocol
        self.baseURL = baseURL
        self.model = model
        self.apiKeyVariable = apiKeyVariable
        self.apiKey = apiKey
    }

    /// A description safe to journal: everything but the key.
    package var redacted: String {
        "\(wireProtocol.rawValue) \(model) at \(baseURL)\(apiKeyVariable.map { " (key from $\($0))" } ?? "")"
    }
}

/// Known endpoints, chosen with `--provider`.
package struct ProviderPreset: Sendable, Hashable {
    /// The preset's name.
    package var name: String
    /// The wire protocol.
    package var wireProtocol: ModelProtocol
    /// The base URL.
    package var baseURL: String
    /// The environment variable that usually holds the key, if one is needed.
    package var apiKeyVariable: String?

    /// Every preset.
    package static let all: [ProviderPreset] = [
        ProviderPreset(
            name: "qwen",
            wireProtocol: .openAI,
            baseURL: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            apiKeyVariable: "DASHSCOPE_API_KEY"
        ),
        ProviderPreset(name: "vllm", wireProtocol: .openAI, baseURL: "http://127.0.0.1:8000/v1", apiKeyVariable: nil),
        ProviderPreset(
            name: "sglang",
            wireProtocol: .openAI,
            baseURL: "http://127.0.0.1:30000/v1",
            apiKeyVariable: nil
        ),
        ProviderPreset(
            name: "ollama",
            wireProtocol: .openAI,
            baseURL: "http://127.0.0.1:11434/v1",
            apiKeyVariable: nil
        ),
        ProviderPreset(
            name: "openai",
            wireProtocol: .openAI,
            baseURL: "https://api.openai.com/v1",
            apiKeyVariable: "OPENAI_API_KEY"
        ),
        ProviderPreset(
            name: "anthropic",
            wireProtocol: .anthropic,
            baseURL: "https://api.anthropic.com",
            apiKeyVariable: "ANTHROPIC_API_KEY"
        ),
    ]

    /// The preset with a name.
    /// - Parameter name: its name.
    /// - Returns: the preset, or nil.
    package static func named(_ name: String) -> ProviderPreset? {
        all.first { $0.name == name }
    }
}
