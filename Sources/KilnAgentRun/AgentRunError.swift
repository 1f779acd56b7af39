package import KilnTask

/// A problem with how an agent run was asked for (flags, a `--config` file), found before it starts.
package struct AgentRunError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// A flag or a config file's key is unknown, of the wrong type, or out of range.
        package static let invalidConfiguration = Code(rawValue: "invalid configuration")
        /// A file named (the config file, a model script) does not exist or cannot be read.
        package static let notFound = Code(rawValue: "not found")

        package var description: String { rawValue }
    }

    /// What kind of problem this is.
    package var code: Code
    /// Every problem found, each with its file and line where there is one.
    package var diagnostics: [Diagnostic]

    /// Creates an error from its diagnostics.
    /// - Parameters:
    ///   - code: what kind of problem this is.
    ///   - diagnostics: the problems, at least one.
    package init(_ code: Code, _ diagnostics: [Diagnostic]) {
        self.code = code
        self.diagnostics = diagnostics
    }

    /// Creates an error about a flag (no file).
    /// - Parameters:
    ///   - code: what kind of problem this is.
    ///   - message: what is wrong and what to do.
    package init(_ code: Code, _ message: String) {
        self.init(code, [Diagnostic(file: "kiln", message: message)])
    }

    package var description: String {
        diagnostics.map { $0.file == "kiln" ? "error: \($0.message)" : $0.description }.joined(separator: "\n")
    }
}
