/// Wraps a model: retries transient failures (timeouts, 429, 5xx, dropped connections) with
/// exponential backoff and full jitter, honouring Retry-After; other failures pass through at once.
package struct RetryingModel: ChatModel {
    /// The wrapped model's secrets.
    package var secrets: [String] { base.secrets }

    /// The model wrapped.
    package var base: any ChatModel
    /// The most attempts per request.
    package var maxAttempts: Int
    /// The first backoff; each retry doubles it, up to ``maxDelay``.
    package var baseDelay: Duration
    /// The longest backoff.
    package var maxDelay: Duration
    /// Called before each retry with the error and the delay chosen.
    package var onRetry: @Sendable (ModelError, Int, Duration) -> Void

    /// Creates a retrying wrapper.
    /// - Parameters:
    ///   - base: the model.
    ///   - maxAttempts: the most attempts per request.
    ///   - baseDelay: the first backoff.
    ///   - maxDelay: the longest backoff.
    ///   - onRetry: called before each retry.
    package init(
        _ base: any ChatModel,
        maxAttempts: Int = 6,
        baseDelay: Duration = .seconds(1),
        maxDelay: Duration = .seconds(60),
        onRetry: @escaping @Sendable (ModelError, Int, Duration) -> Void = { _, _, _ in }
    ) {
        self.base = base
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.onRetry = onRetry
    }

    package var label: String { base.label }

    package func complete(_ request: ChatRequest) async throws(ModelError) -> ChatResponse {
        var attempt = 1
        while true {
            do {
                return try await base.complete(request)
            } catch {
                guard error.isTransient, attempt < maxAttempts else {
                    if error.isTransient {
                        throw ModelError(error.code, "\(error.message) (gave up after \(attempt) attempts)")
                    }
                    throw error
                }
                let ceiling = min(baseDelay * (1 << min(attempt - 1, 20)), maxDelay)
                let jittered = ceiling * Double.random(in: 0...1)
                let delay = max(error.retryAfter ?? .zero, jittered)
                onRetry(error, attempt, delay)
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    throw ModelError(.timeout, "cancelled while waiting to retry")
                }
                attempt += 1
            }
        }
    }
}
