/// A failure of a run's bookkeeping: its folder, its journal or its lock.
package struct RunError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// No run has this id.
        package static let unknownRun = Code(rawValue: "unknown run")
        /// Another process is writing the run.
        package static let locked = Code(rawValue: "locked")
        /// The runs folder or a run's files cannot be written or read.
        package static let io = Code(rawValue: "i/o")
        /// The journal was written by a newer Kiln.
        package static let newerFormat = Code(rawValue: "newer format")
        /// The journal is not a Kiln journal or is damaged.
        package static let corrupt = Code(rawValue: "corrupt")
        /// The model endpoint failed after retries; the run is saved and resumable.
        package static let modelUnavailable = Code(rawValue: "model unavailable")
        /// The executor's cluster is unreachable, went away, or has a node that cannot evaluate; the run
        /// is saved and resumable.
        package static let executorUnavailable = Code(rawValue: "executor unavailable")
        /// The run cannot be resumed (it finished, or its task changed).
        package static let notResumable = Code(rawValue: "not resumable")

        package var description: String { rawValue }
    }

    /// What kind of failure this is.
    package var code: Code
    /// What is wrong and what to do.
    package var message: String
    /// The error underneath, if any.
    package var underlying: (any Error & Sendable)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: what kind of failure.
    ///   - message: what is wrong and what to do.
    ///   - underlying: the error underneath.
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
