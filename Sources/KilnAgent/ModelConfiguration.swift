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

/// How to reach a model, everything but its key: what a run journals, and resumes with.
package struct ModelEndpoint: Sendable, Hashable {
    /// The wire protocol.
    package var wireProtocol: ModelProtocol
    /// The API's base URL, such as `https://api.openai.com/v1`.
    package var baseURL: String
    /// The model's name at the endpoint.
    package var model: String
    /// The environment variable the key is read from (again on resume), if the endpoint needs one.
    package var apiKeyVariable: String?
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

    /// Creates an endpoint.
    /// - Parameters:
    ///   - wireProtocol: the wire protocol.
    ///   - baseURL: the API's base URL.
    ///   - model: the model's name.
    ///   - apiKeyVariable: the environment variable holding the key.
    package init(wireProtocol: ModelProtocol, baseURL: String, model: String, apiKeyVariable: String?) {
        self.wireProtocol = wireProtocol
        self.baseURL = baseURL
        self.model = model
        self.apiKeyVariable = apiKeyVariable
    }

    /// The endpoint with its key, read from `environment` (the executable passes its own; libraries
    /// read no environment variables).
    /// - Parameter environment: the environment.
    /// - Returns: the configuration.
    /// - Throws: ``ModelError`` `.unauthorized` when the key's variable is unset or empty.
    package func configuration(environment: [String: String]) throws(ModelError) -> ModelConfiguration {
        var key: String? = nil
        if let variable = apiKeyVariable {
            key = environment[variable]
            if key?.isEmpty ?? true {
                throw ModelError(
                    .missingKey,
                    "the API key variable $\(variable) is not set; export it (the key is never written to the run)"
                )
            }
        }
        return ModelConfiguration(endpoint: self, apiKey: key)
    }
}

/// How to reach a model: an endpoint and its key, resolved at the edge (flags over config file over
/// presets, the key from the environment) and passed down.
///
/// The key itself is held here only in memory; journals record the ``endpoint`` alone.
package struct ModelConfiguration: Sendable, Hashable {
    /// Everything but the key.
    package var endpoint: ModelEndpoint
    /// The key (never logged, journaled or printed).
    package var apiKey: String?

    /// Creates a configuration.
    /// - Parameters:
    ///   - endpoint: the endpoint.
    ///   - apiKey: its key.
    package init(endpoint: ModelEndpoint, apiKey: String?) {
        self.endpoint = endpoint
        self.apiKey = apiKey
    }

    /// Creates a configuration from its parts.
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
        self.init(
            endpoint: ModelEndpoint(
                wireProtocol: wireProtocol,
                baseURL: baseURL,
                model: model,
                apiKeyVariable: apiKeyVariable
            ),
            apiKey: apiKey
        )
    }

    /// The wire protocol.
    package var wireProtocol: ModelProtocol {
        get { endpoint.wireProtocol }
        set { endpoint.wireProtocol = newValue }
    }
    /// The API's base URL.
    package var baseURL: String {
        get { endpoint.baseURL }
        set { endpoint.baseURL = newValue }
    }
    /// The model's name.
    package var model: String {
        get { endpoint.model }
        set { endpoint.model = newValue }
    }
    /// The environment variable the key came from.
    package var apiKeyVariable: String? {
        get { endpoint.apiKeyVariable }
        set { endpoint.apiKeyVariable = newValue }
    }
    /// The deadline of one request.
    package var requestTimeout: Duration {
        get { endpoint.requestTimeout }
        set { endpoint.requestTimeout = newValue }
    }
    /// Sampling temperature.
    package var temperature: Double? {
        get { endpoint.temperature }
        set { endpoint.temperature = newValue }
    }
    /// Ask for server-sent events.
    package var isStreaming: Bool {
        get { endpoint.isStreaming }
        set { endpoint.isStreaming = newValue }
    }
    /// The most output tokens per answer.
    package var maxOutputTokens: Int {
        get { endpoint.maxOutputTokens }
        set { endpoint.maxOutputTokens = newValue }
    }
    /// Prices, for the money budget.
    package var prices: ModelPrices? {
        get { endpoint.prices }
        set { endpoint.prices = newValue }
    }

    /// A description safe to journal: everything but the key.
    package var redacted: String {
        "\(wireProtocol.rawValue) \(model) at \(baseURL)\(apiKeyVariable.map { " (key from $\($0))" } ?? "")"
    }

    /// The client for this endpoint's wire protocol.
    /// - Parameter label: the label journals and reports show (default: `PROTOCOL:MODEL`).
    /// - Returns: the client.
    package func makeClient(label: String? = nil) -> any ChatModel {
        switch wireProtocol {
        case .openAI: OpenAIChatClient(configuration: self, label: label)
        case .anthropic: AnthropicClient(configuration: self, label: label)
        }
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
