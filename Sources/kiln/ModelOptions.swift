import ArgumentParser
import Foundation
import KilnAgent
import KilnRun
import TOMLKit

/// How `kiln run` reaches a model: flags over a config file over provider presets.
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The model, which switches the run to agent mode; 'scripted:FILE' uses Kiln's scripted model server.",
            valueName: "name"
        )
    )
    var model: String?

    @Option(name: .long, help: "A provider preset: \(ProviderPreset.all.map(\.name).joined(separator: ", ")).")
    var provider: String?

    @Option(name: .customLong("base-url"), help: "The API's base URL (overrides the preset).")
    var baseURL: String?

    @Option(name: .customLong("api-key-env"), help: "The environment variable holding the API key.")
    var apiKeyVariable: String?

    @Option(
        name: .customLong("config"),
        help: "A TOML file with a [model] table (provider, model, base_url, api_key_env, ...)."
    )
    var configFile: String?

    @Option(name: .customLong("request-timeout"), help: "Seconds one model request may take (default 300).")
    var requestTimeout: Double?

    @Option(name: .long, help: "Sampling temperature.")
    var temperature: Double?

    @Flag(name: .customLong("no-stream"), help: "Ask for whole answers instead of server-sent events.")
    var noStream = false

    @Option(name: .customLong("context-limit"), help: "The model's context in tokens (default 128000).")
    var contextLimit: Int?

    @Option(name: .customLong("max-tool-calls"), help: "Tool-call budget.")
    var maxToolCalls: Int?

    @Option(name: .customLong("max-tokens"), help: "Token budget (sent and received).")
    var maxTokens: Int?

    @Option(name: .customLong("max-dollars"), help: "Money budget in US dollars (needs prices).")
    var maxDollars: Double?

    @Option(name: .customLong("price-input"), help: "Dollars per million input tokens.")
    var priceInput: Double?

    @Option(name: .customLong("price-output"), help: "Dollars per million output tokens.")
    var priceOutput: Double?

    @Flag(name: .customLong("no-seed-eval"), help: "Do not evaluate the task's seed design before the model starts.")
    var noSeedEvaluation = false

    /// The agent settings these options describe, or nil for a tuner run.
    func resolve() throws -> AgentSettings? {
        var file: [String: String] = [:]
        if let configFile {
            let text: String
            do { text = try String(contentsOfFile: configFile, encoding: .utf8) } catch {
                throw ValidationError("--config \(configFile): cannot read the file")
            }
            do {
                let table = try TOMLTable(string: text)
                for (key, value) in table["model"]?.table ?? TOMLTable() {
                    file[key] =
                        value.string ?? value.double.map { String($0) } ?? value.int.map(String.init)
                        ?? value.bool.map { String($0) }
                }
            } catch {
                throw ValidationError("--config \(configFile): malformed TOML (\(error))")
            }
        }
        guard let model = model ?? file["model"] else {
            if provider != nil || baseURL != nil {
                throw ValidationError("--provider and --base-url need --model")
            }
            return nil
        }
        let budgets = AgentBudgets(
            toolCalls: maxToolCalls ?? file["max_tool_calls"].flatMap { Int($0) },
            tokens: maxTokens ?? file["max_tokens"].flatMap { Int($0) },
            dollars: maxDollars ?? file["max_dollars"].flatMap { Double($0) }
        )
        let input = priceInput ?? file["price_input"].flatMap { Double($0) }
        let output = priceOutput ?? file["price_output"].flatMap { Double($0) }
        let prices = input.map { ModelPrices(input: $0, output: output ?? $0) }
        if budgets.dollars != nil, prices == nil {
            throw ValidationError(
                "--max-dollars needs prices: pass --price-input and --price-output (dollars per million tokens)"
            )
        }
        let timeout = requestTimeout ?? file["request_timeout"].flatMap { Double($0) } ?? 300
        let context = contextLimit ?? file["context_limit"].flatMap { Int($0) } ?? 128_000
        let streaming = !(noStream || file["stream"] == "false")
        let temperature = temperature ?? file["temperature"].flatMap { Double($0) }
        if model.hasPrefix("scripted:") {
            let path = String(model.dropFirst("scripted:".count))
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("--model scripted:\(path): no such script file")
            }
            return AgentSettings(
                wireProtocol: .openAI,
                baseURL: "loopback",
                model: "scripted",
                apiKeyVariable: nil,
                script: path,
                requestTimeoutSeconds: timeout,
                temperature: temperature,
                isStreaming: streaming,
                contextLimit: context,
                budgets: budgets,
                prices: prices
            )
        }
        let presetName = provider ?? file["provider"]
        let preset = try presetName.map { name in
            guard let preset = ProviderPreset.named(name) else {
                throw ValidationError(
                    "unknown provider '\(name)'; choose one of \(ProviderPreset.all.map(\.name).joined(separator: ", "))"
                )
            }
            return preset
        }
        guard let base = baseURL ?? file["base_url"] ?? preset?.baseURL else {
            throw ValidationError("--model \(model) needs --provider or --base-url (e.g. --provider openai)")
        }
        return AgentSettings(
            wireProtocol: preset?.wireProtocol ?? (file["protocol"] == "anthropic" ? .anthropic : .openAI),
            baseURL: base,
            model: model,
            apiKeyVariable: apiKeyVariable ?? file["api_key_env"] ?? preset?.apiKeyVariable,
            script: nil,
            requestTimeoutSeconds: timeout,
            temperature: temperature,
            isStreaming: streaming,
            contextLimit: context,
            budgets: budgets,
            prices: prices
        )
    }
}

/// Builds the model client of an agent run; the key comes from the environment, never from the journal.
enum ModelClients {
    static func configuration(_ agent: AgentSettings) throws -> ModelConfiguration {
        var key: String? = nil
        if let variable = agent.apiKeyVariable {
            key = ProcessInfo.processInfo.environment[variable]
            if key?.isEmpty ?? true {
                throw ValidationError(
                    "the API key variable $\(variable) is not set; export it (the key is never written to the run)"
                )
            }
        }
        var configuration = ModelConfiguration(
            wireProtocol: agent.wireProtocol,
            baseURL: agent.endpoint,
            model: agent.model,
            apiKeyVariable: agent.apiKeyVariable,
            apiKey: key
        )
        configuration.requestTimeout = .milliseconds(Int(agent.requestTimeoutSeconds * 1000))
        configuration.temperature = agent.temperature
        configuration.isStreaming = agent.isStreaming
        configuration.prices = agent.prices
        return configuration
    }

    static func client(_ configuration: ModelConfiguration, label: String? = nil) -> any ChatModel {
        switch configuration.wireProtocol {
        case .openAI: OpenAIChatClient(configuration: configuration, label: label)
        case .anthropic: AnthropicClient(configuration: configuration, label: label)
        }
    }
}
