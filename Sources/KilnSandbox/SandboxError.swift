/// A failure to run a process or to make a sandbox for it (a program that runs and fails is a result, not an error).
package struct SandboxError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// No sandbox can be made on this machine (no user namespaces, or they are restricted).
        package static let unavailable = Code(rawValue: "sandbox unavailable")
        /// A program Kiln needs (the C compiler, readelf) is missing or does not run.
        package static let toolMissing = Code(rawValue: "tool missing")
        /// A file or folder could not be read or written.
        package static let io = Code(rawValue: "i/o")
        /// The work was cancelled.
        package static let cancelled = Code(rawValue: "cancelled")
        /// Something Kiln did not expect; a bug.
        package static let `internal` = Code(rawValue: "internal")

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

    package var description: String {
        if let underlying { return "\(message) (\(underlying))" }
        return message
    }
}
