/// What a tool call came to, in the short structured form the model sees.
package struct ToolOutcome: Sendable, Hashable {
    /// The text returned to the model: errors first, then figures.
    package var content: String
    /// Whether the call failed.
    package var isError: Bool
    /// Set by `finish`: the model's closing summary.
    package var finishes: String?

    /// Creates an outcome.
    /// - Parameters:
    ///   - content: the text for the model.
    ///   - isError: whether the call failed.
    ///   - finishes: the closing summary, for `finish`.
    package init(_ content: String, isError: Bool = false, finishes: String? = nil) {
        self.content = content
        self.isError = isError
        self.finishes = finishes
    }

    /// A failed call.
    /// - Parameter message: what went wrong and what to do.
    /// - Returns: the outcome.
    package static func error(_ message: String) -> ToolOutcome { ToolOutcome("error: " + message, isError: true) }
}

/// The tools offered to the model and how to run them.
package protocol AgentToolbox: Sendable {
    /// The tools' definitions.
    var definitions: [ToolDefinition] { get }

    /// Runs one call whose arguments parsed as a JSON object.
    /// - Parameters:
    ///   - name: the tool.
    ///   - arguments: its arguments.
    /// - Returns: what the model sees.
    func run(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome
}

/// Long tool output is cut, with a note of what was cut, so one result cannot flood the context.
package enum ToolText {
    /// Keeps the head and tail of `text` within `limit` characters.
    /// - Parameters:
    ///   - text: the text.
    ///   - limit: the most characters.
    /// - Returns: the text, cut in the middle if needed.
    package static func capped(_ text: String, limit: Int = 12_000) -> String {
        guard text.count > limit else { return text }
        let head = text.prefix(limit * 2 / 3)
        let tail = text.suffix(limit / 3)
        return "\(head)\n… [\(text.count - head.count - tail.count) characters cut] …\n\(tail)"
    }
}

extension [String: JSONValue] {
    /// A required string argument.
    package func string(_ key: String) throws(ToolArgumentError) -> String {
        guard let value = self[key]?.string else {
            throw ToolArgumentError(message: "missing string argument '\(key)'")
        }
        return value
    }

    /// An optional integer argument.
    package func int(_ key: String) throws(ToolArgumentError) -> Int? {
        guard let value = self[key], value != .null else { return nil }
        guard let int = value.int else { throw ToolArgumentError(message: "argument '\(key)' must be an integer") }
        return int
    }
}

/// A tool call whose arguments do not fit the tool's schema.
package struct ToolArgumentError: Error, Sendable {
    /// What is wrong.
    package var message: String

    /// Creates an error.
    /// - Parameter message: what is wrong.
    package init(message: String) {
        self.message = message
    }
}

/// One tool, defined once: its name, description and argument schema, and how to run it. The agent
/// loop and the MCP server serve the same values (the MCP server's `evaluate` and `tune` are these
/// tools with a task and a source in place of a workspace path).
package struct Tool: Sendable {
    /// What the model (or an MCP client) is told.
    package var definition: ToolDefinition
    /// Runs one call whose arguments parsed as a JSON object.
    package var run: @Sendable ([String: JSONValue]) async -> ToolOutcome

    /// Creates a tool.
    /// - Parameters:
    ///   - definition: what the caller is told.
    ///   - run: how a call runs.
    package init(_ definition: ToolDefinition, run: @escaping @Sendable ([String: JSONValue]) async -> ToolOutcome) {
        self.definition = definition
        self.run = run
    }

    /// The tool's name.
    package var name: String { definition.name }
}

/// Tools by name, in the order they are offered.
package struct ToolRegistry: AgentToolbox {
    /// The tools.
    package var tools: [Tool]

    /// Creates a registry.
    /// - Parameter tools: the tools, in the order they are offered.
    package init(_ tools: [Tool]) {
        self.tools = tools
    }

    /// The tools' definitions.
    package var definitions: [ToolDefinition] { tools.map(\.definition) }

    /// Runs a call by name; an unknown name is an error listing the tools.
    /// - Parameters:
    ///   - name: the tool.
    ///   - arguments: its arguments.
    /// - Returns: what the caller sees.
    package func run(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        guard let tool = tools.first(where: { $0.name == name }) else {
            return .error("there is no tool '\(name)'; the tools are \(tools.map(\.name).joined(separator: ", "))")
        }
        return await tool.run(arguments)
    }
}

/// A JSON schema of an object with string-typed descriptions, for tool definitions.
/// - Parameters:
///   - properties: each property's JSON type and description.
///   - required: the properties that must be given.
/// - Returns: the schema.
package func objectSchema(_ properties: [String: (type: String, description: String)], required: [String]) -> JSONValue
{
    .object([
        "type": "object",
        "properties": .object(
            properties.mapValues { ["type": .string($0.type), "description": .string($0.description)] }
        ),
        "required": .array(required.map { .string($0) }),
    ])
}
