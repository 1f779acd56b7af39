/// A failure of the scripted model server itself or of its script (never of a request it was sent:
/// those are recorded as violations).
package struct ModelServerError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// The script file does not exist or cannot be read.
        package static let unreadableScript = Code(rawValue: "unreadable script")
        /// The script is not JSON, or not a valid script.
        package static let invalidScript = Code(rawValue: "invalid script")
        /// The server stopped before it was listening (the port is taken, say).
        package static let notListening = Code(rawValue: "not listening")

        package var description: String { rawValue }
    }

    /// What kind of failure this is.
    package var code: Code
    /// What is wrong and what to do.
    package var message: String
    /// The error underneath, when there is one.
    package var underlying: (any Error & Sendable)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: what kind of failure this is.
    ///   - message: what is wrong and what to do.
    ///   - underlying: the error underneath, if any.
    package init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    package var description: String { message }
}
