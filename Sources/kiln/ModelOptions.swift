import ArgumentParser
import Foundation
import KilnAgent
import KilnAgentRun
import KilnRun

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

    /// The agent settings these options describe (flags over `--config` over the provider's preset), or
    /// nil for a tuner run.
    func resolve() throws -> AgentSettings? {
        var flags = ModelChoice()
        flags.model = model
        flags.provider = provider
        flags.baseURL = baseURL
        flags.apiKeyVariable = apiKeyVariable
        flags.requestTimeout = requestTimeout
        flags.temperature = temperature
        flags.stream = noStream ? false : nil
        flags.contextLimit = contextLimit
        flags.maxToolCalls = maxToolCalls
        flags.maxTokens = maxTokens
        flags.maxDollars = maxDollars
        flags.priceInput = priceInput
        flags.priceOutput = priceOutput
        let file = try configFile.map { path throws(AgentRunError) in try ModelChoice.load(configFile: path) }
        return try flags.over(file ?? ModelChoice()).resolve()
    }
}
