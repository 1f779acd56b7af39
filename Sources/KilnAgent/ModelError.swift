import Foundation

/// A failure to get an answer from a model endpoint. Its message never contains the API key.
package struct ModelError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// The endpoint did not answer in time.
        package static let timeout = Code(rawValue: "timeout")
        /// 429: too many requests.
        package static let rateLimited = Code(rawValue: "rate limited")
        /// 5xx, or the provider said it is overloaded.
        package static let serverError = Code(rawValue: "server error")
        /// 401 or 403: the key is missing, wrong or lacks access.
        package static let unauthorized = Code(rawValue: "unauthorized")
        /// The endpoint needs a key and its environment variable is unset or empty.
        package static let missingKey = Code(rawValue: "missing key")
        /// 404: the model or the path does not exist.
        package static let notFound = Code(rawValue: "not found")
        /// The conversation is longer than the model's context.
        package static let contextOverflow = Code(rawValue: "context overflow")
        /// The provider refused to answer (content filter).
        package static let refused = Code(rawValue: "refused")
        /// Other 4xx: the request was rejected.
        package static let badRequest = Code(rawValue: "bad request")
        /// The endpoint could not be reached or the connection dropped.
        package static let connection = Code(rawValue: "connection")
        /// The answer was not what the protocol says.
        package static let malformedResponse = Code(rawValue: "malformed response")

        package var description: String { rawValue }
    }

    /// What kind of failure this is.
    package var code: Code
    /// What is wrong and what to do.
    package var message: String
    /// How long the endpoint asked us to wait, for 429s that say.
    package var retryAfter: Duration?

    /// Creates an error.
    /// - Parameters:
    ///   - code: what kind of failure.
    ///   - message: what is wrong and what to do.
    ///   - retryAfter: how long the endpoint asked us to wait.
    package init(_ code: Code, _ message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Whether trying again later may succeed.
    package var isTransient: Bool {
        [.timeout, .rateLimited, .serverError, .connection].contains(code)
    }

    package var description: String { message }

    /// The same error with every occurrence of `secret` in its message replaced: an endpoint that
    /// echoes the key in an error body must not put it on the screen or in the journal.
    /// - Parameter secret: the key, if any.
    /// - Returns: the error, scrubbed.
    package func redacting(_ secret: String?) -> ModelError {
        guard let secret, secret.count >= 4, message.contains(secret) else { return self }
        var copy = self
        copy.message = message.replacingOccurrences(of: secret, with: "[redacted]")
        return copy
    }
}
