package import KilnSandbox

/// A failure of Kiln itself or of its environment (not of a candidate, whose failures are verdicts).
package struct HarnessError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// A tool Kiln needs (the C compiler, readelf) is missing or failed.
        package static let toolMissing = Code(rawValue: "tool missing")
        /// The task's own code (instance file, oracle or baseline) failed.
        package static let taskBroken = Code(rawValue: "task broken")
        /// A file could not be read or written.
        package static let io = Code(rawValue: "i/o")
        /// The machine probe failed.
        package static let probeFailed = Code(rawValue: "probe failed")
        /// A candidate file to evaluate does not exist or cannot be read.
        package static let candidateNotFound = Code(rawValue: "candidate not found")
        /// No sandbox can be made on this machine, and `--unsafe-no-sandbox` was not given.
        package static let sandboxUnavailable = Code(rawValue: "sandbox unavailable")
        /// The work was cancelled (Ctrl-C); not a failure of anything.
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

    /// The harness's form of a process or sandbox failure.
    /// - Parameter sandboxError: the failure.
    package init(sandboxError: SandboxError) {
        let code: Code =
            switch sandboxError.code {
            case .unavailable: .sandboxUnavailable
            case .toolMissing: .toolMissing
            case .io: .io
            case .cancelled: .cancelled
            default: .internal
            }
        self.init(code, sandboxError.message, underlying: sandboxError.underlying)
    }

    package var description: String {
        if let underlying { return "\(message) (\(underlying))" }
        return message
    }
}
