/// A problem with a task folder or a candidate's declarations, found before anything runs.
///
/// It carries every diagnostic that was found, so a user fixes them all in one pass.
package struct TaskError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// The folder or a file it names does not exist.
        package static let notFound = Code(rawValue: "not found")
        /// A file exists but its content is not valid.
        package static let invalid = Code(rawValue: "invalid")
        /// A shape name that the task does not define.
        package static let unknownShape = Code(rawValue: "unknown shape")
        /// A candidate's tunable or flag declaration or setting is not valid.
        package static let invalidConfiguration = Code(rawValue: "invalid configuration")

        package var description: String { rawValue }
    }

    /// What kind of problem this is.
    package var code: Code
    /// Every problem found, each with its file and line where there is one.
    package var diagnostics: [Diagnostic]

    /// Creates an error from its diagnostics.
    /// - Parameters:
    ///   - code: what kind of problem this is.
    ///   - diagnostics: the problems found, at least one.
    package init(_ code: Code, _ diagnostics: [Diagnostic]) {
        self.code = code
        self.diagnostics = diagnostics
    }

    /// Creates an error with one diagnostic.
    /// - Parameters:
    ///   - code: what kind of problem this is.
    ///   - file: the file at fault.
    ///   - line: the line at fault, when known.
    ///   - message: what is wrong and what to do.
    package init(_ code: Code, file: String, line: Int? = nil, _ message: String) {
        self.init(code, [Diagnostic(file: file, line: line, message: message)])
    }

    package var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// One problem in one file, printed like a compiler's: `file:line: error: message`.
package struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    /// The file at fault, as the user named it.
    package var file: String
    /// The 1-based line at fault, when known.
    package var line: Int?
    /// What is wrong and what to do.
    package var message: String

    /// Creates a diagnostic.
    /// - Parameters:
    ///   - file: the file at fault.
    ///   - line: the 1-based line at fault, when known.
    ///   - message: what is wrong and what to do.
    package init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    package var description: String {
        if let line { return "\(file):\(line): error: \(message)" }
        return "\(file): error: \(message)"
    }
}
