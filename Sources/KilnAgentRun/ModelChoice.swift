import Foundation
import KilnAgent
import KilnCore
package import KilnRun
import KilnTask
import TOMLKit

/// A model as the user chose it, from flags or a config file's `[model]` table; nil where nothing was
/// said. Flags win over the file, the file over the provider's preset.
package struct ModelChoice: Sendable, Hashable {
    /// The model's name, or `scripted:FILE`.
    package var model: String?
    /// A provider preset's name.
    package var provider: String?
    /// The API's base URL.
    package var baseURL: String?
    /// The environment variable holding the key.
    package var apiKeyVariable: String?
    /// `openai` or `anthropic` (without a preset).
    package var wireProtocol: String?
    /// Seconds one request may take.
    package var requestTimeout: Double?
    /// Sampling temperature.
    package var temperature: Double?
    /// Server-sent events or whole answers.
    package var stream: Bool?
    /// The model's context, tokens.
    package var contextLimit: Int?
    /// The tool-call budget.
    package var maxToolCalls: Int?
    /// The token budget.
    package var maxTokens: Int?
    /// The money budget, dollars.
    package var maxDollars: Double?
    /// Dollars per million input tokens.
    package var priceInput: Double?
    /// Dollars per million output tokens.
    package var priceOutput: Double?

    /// Nothing chosen.
    package init() {}

    /// These choices, with `file`'s where these say nothing.
    /// - Parameter file: the config file's choices.
    /// - Returns: the merged choices.
    package func over(_ file: ModelChoice) -> ModelChoice {
        var merged = self
        merged.model = model ?? file.model
        merged.provider = provider ?? file.provider
        merged.baseURL = baseURL ?? file.baseURL
        merged.apiKeyVariable = apiKeyVariable ?? file.apiKeyVariable
        merged.wireProtocol = wireProtocol ?? file.wireProtocol
        merged.requestTimeout = requestTimeout ?? file.requestTimeout
        merged.temperature = temperature ?? file.temperature
        merged.stream = stream ?? file.stream
        merged.contextLimit = contextLimit ?? file.contextLimit
        merged.maxToolCalls = maxToolCalls ?? file.maxToolCalls
        merged.maxTokens = maxTokens ?? file.maxTokens
        merged.maxDollars = maxDollars ?? file.maxDollars
        merged.priceInput = priceInput ?? file.priceInput
        merged.priceOutput = priceOutput ?? file.priceOutput
        return merged
    }

    /// The keys a `[model]` table may hold.
    package static let fileKeys = [
        "provider", "model", "base_url", "api_key_env", "protocol", "request_timeout", "temperature", "stream",
        "context_limit", "max_tool_calls", "max_tokens", "max_dollars", "price_input", "price_output",
    ]

    /// Reads a config file: one `[model]` table of known keys, each of the right type and range. Every
    /// problem is reported at once, with the file and line.
    /// - Parameter path: the file, as the user named it.
    /// - Returns: the choices it makes.
    /// - Throws: ``AgentRunError`` `.notFound` or `.invalidConfiguration`.
    package static func load(configFile path: String) throws(AgentRunError) -> ModelChoice {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AgentRunError(.notFound, [Diagnostic(file: path, message: "cannot read the config file")])
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw AgentRunError(
                .invalidConfiguration,
                [Diagnostic(file: path, line: error.source.begin.line, message: "malformed TOML: \(error.description)")]
            )
        } catch {
            throw AgentRunError(.invalidConfiguration, [Diagnostic(file: path, message: "malformed TOML: \(error)")])
        }
        var reader = ConfigReader(file: path, text: text)
        let choice = reader.read(root)
        guard reader.diagnostics.isEmpty else { throw AgentRunError(.invalidConfiguration, reader.diagnostics) }
        return choice
    }

    /// The agent settings these choices describe, or nil when no model was chosen (a tuner run).
    /// - Parameter fileExists: whether a scripted model's script exists.
    /// - Returns: the settings, or nil.
    /// - Throws: ``AgentRunError`` saying what is missing, unknown or out of range.
    package func resolve(fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) })
        throws(AgentRunError)
        -> AgentSettings?
    {
        guard let model else {
            if provider != nil || baseURL != nil {
                throw AgentRunError(.invalidConfiguration, "--provider and --base-url need --model")
            }
            return nil
        }
        let budgets = AgentBudgets(toolCalls: maxToolCalls, tokens: maxTokens, dollars: maxDollars)
        let prices = priceInput.map { ModelPrices(input: $0, output: priceOutput ?? $0) }
        if budgets.dollars != nil, prices == nil {
            throw AgentRunError(
                .invalidConfiguration,
                "--max-dollars needs prices: pass --price-input and --price-output (dollars per million tokens)"
            )
        }
        let seconds = requestTimeout ?? 300
        guard let timeout = Duration.checkedSeconds(seconds), seconds > 0 else {
            throw AgentRunError(
                .invalidConfiguration,
                "the request timeout must be a positive number of seconds of at most a year, not \(seconds)"
            )
        }
        let context = contextLimit ?? 128_000
        guard context > 0 else { throw AgentRunError(.invalidConfiguration, "the context limit must be positive") }
        for (name, value) in [("tool-call", maxToolCalls), ("token", maxTokens)] where (value ?? 1) <= 0 {
            throw AgentRunError(.invalidConfiguration, "the \(name) budget must be positive")
        }
        for (name, value) in [("money budget", maxDollars), ("input price", priceInput), ("output price", priceOutput)]
        {
            if let value, !(value.isFinite && value >= 0) {
                throw AgentRunError(.invalidConfiguration, "the \(name) must be a finite, non-negative number")
            }
        }
        if let temperature, !(temperature.isFinite && temperature >= 0) {
            throw AgentRunError(.invalidConfiguration, "the temperature must be a finite, non-negative number")
        }
        var endpoint: ModelEndpoint
        var script: String? = nil
        if model.hasPrefix("scripted:") {
            let path = String(model.dropFirst("scripted:".count))
            guard fileExists(path) else {
                throw AgentRunError(.notFound, "--model scripted:\(path): no such script file")
            }
            endpoint = ModelEndpoint(wireProtocol: .openAI, baseURL: "loopback", model: "scripted", apiKeyVariable: nil)
            script = path
        } else {
            let preset = try provider.map { name throws(AgentRunError) in
                guard let preset = ProviderPreset.named(name) else {
                    throw AgentRunError(
                        .invalidConfiguration,
                        "unknown provider '\(name)'; choose one of \(ProviderPreset.all.map(\.name).joined(separator: ", "))"
                    )
                }
                return preset
            }
            guard let base = baseURL ?? preset?.baseURL else {
                throw AgentRunError(
                    .invalidConfiguration,
                    "--model \(model) needs --provider or --base-url (e.g. --provider openai)"
                )
            }
            let wire: ModelProtocol
            switch wireProtocol {
            case nil: wire = preset?.wireProtocol ?? .openAI
            case "openai": wire = .openAI
            case "anthropic": wire = .anthropic
            case let other?:
                throw AgentRunError(.invalidConfiguration, "unknown protocol '\(other)'; choose openai or anthropic")
            }
            endpoint = ModelEndpoint(
                wireProtocol: wire,
                baseURL: base,
                model: model,
                apiKeyVariable: apiKeyVariable ?? preset?.apiKeyVariable
            )
        }
        endpoint.requestTimeout = timeout
        endpoint.temperature = temperature
        endpoint.isStreaming = stream ?? true
        endpoint.prices = prices
        return AgentSettings(endpoint: endpoint, script: script, contextLimit: context, budgets: budgets)
    }
}

/// Reads a config file's tables into a ``ModelChoice``, collecting diagnostics instead of stopping at the first.
private struct ConfigReader {
    let file: String
    let lines: [Substring]
    var diagnostics: [Diagnostic] = []

    init(file: String, text: String) {
        self.file = file
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The 1-based line of `key =` inside `[table]` (or of the table's header when key is nil).
    func line(of key: String?, in table: String?) -> Int? {
        var current: String? = nil
        for (number, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                current = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                if key == nil, current == table { return number + 1 }
                continue
            }
            if let key, current == table, line.hasPrefix(key),
                line.dropFirst(key.count).trimmingCharacters(in: .whitespaces).hasPrefix("=")
            {
                return number + 1
            }
        }
        return nil
    }

    mutating func fail(_ message: String, key: String?, table: String? = "model") {
        diagnostics.append(Diagnostic(file: file, line: line(of: key, in: table), message: message))
    }

    mutating func read(_ root: TOMLTable) -> ModelChoice {
        var choice = ModelChoice()
        for key in root.keys where key != "model" {
            fail(
                "unknown \(root[key]?.table != nil ? "table" : "key") '\(key)'; a config file holds one [model] table",
                key: root[key]?.table != nil ? nil : key,
                table: root[key]?.table != nil ? key : nil
            )
        }
        guard let table = root["model"]?.table else {
            if root["model"] != nil { fail("'model' must be a table: [model]", key: "model", table: nil) }
            return choice
        }
        for key in table.keys where !ModelChoice.fileKeys.contains(key) {
            fail(
                "unknown key '\(key)' in [model]; known keys: \(ModelChoice.fileKeys.joined(separator: ", "))",
                key: key
            )
        }
        choice.model = string(table, "model")
        choice.provider = string(table, "provider")
        choice.baseURL = string(table, "base_url")
        choice.apiKeyVariable = string(table, "api_key_env")
        choice.wireProtocol = string(table, "protocol")
        choice.requestTimeout = number(table, "request_timeout")
        choice.temperature = number(table, "temperature")
        choice.stream = bool(table, "stream")
        choice.contextLimit = integer(table, "context_limit")
        choice.maxToolCalls = integer(table, "max_tool_calls")
        choice.maxTokens = integer(table, "max_tokens")
        choice.maxDollars = number(table, "max_dollars")
        choice.priceInput = number(table, "price_input")
        choice.priceOutput = number(table, "price_output")
        return choice
    }

    mutating func string(_ table: TOMLTable, _ key: String) -> String? {
        guard let value = table[key] else { return nil }
        guard let string = value.string else {
            fail("'\(key)' must be a string", key: key)
            return nil
        }
        return string
    }

    mutating func number(_ table: TOMLTable, _ key: String) -> Double? {
        guard let value = table[key] else { return nil }
        guard let number = value.double ?? value.int.map(Double.init), number.isFinite else {
            fail("'\(key)' must be a finite number", key: key)
            return nil
        }
        return number
    }

    mutating func integer(_ table: TOMLTable, _ key: String) -> Int? {
        guard let value = table[key] else { return nil }
        guard let integer = value.int, integer > 0 else {
            fail("'\(key)' must be a positive integer", key: key)
            return nil
        }
        return integer
    }

    mutating func bool(_ table: TOMLTable, _ key: String) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let bool = value.bool else {
            fail("'\(key)' must be true or false", key: key)
            return nil
        }
        return bool
    }
}
