package import Foundation
import Hummingbird
package import KilnAgent
import KilnHTTPServing
package import Logging
import NIOCore
import Synchronization

/// A model endpoint on loopback that answers from a ``ModelScript`` and checks what it is sent.
///
/// It speaks OpenAI chat completions (`POST …/chat/completions`, plain or server-sent events) and
/// the Anthropic Messages API (`POST …/messages`). Each request consumes the script's next turn. What
/// a request gets wrong (a turn's expectation unmet, a forbidden secret in the body, a request after
/// the script ran out) is recorded in ``violations`` rather than failing the request, so that the
/// client under test sees the answer the script gives.
///
/// Tests use ``withRunning(isolation:_:)``:
///
/// ```swift
/// let server = ScriptedModelServer(script: script, forbiddenSecrets: ["sk-test"])
/// try await server.withRunning { baseURL in
///     // OpenAI clients: baseURL/v1; Anthropic clients: baseURL
/// }
/// #expect(server.violations.isEmpty)
/// ```
package final class ScriptedModelServer: Sendable {
    /// The script answered from.
    package let script: ModelScript
    /// Strings that must never appear in a request's body, path or headers other than
    /// `Authorization` and `x-api-key` (API keys, typically).
    package let forbiddenSecrets: [String]
    /// How many of the script's turns were answered before (by an earlier, resumed run); the first
    /// request gets the turn after them.
    package let startTurn: Int
    /// Whether ``requests`` keeps every request body (tests inspect them; long benchmarks should not).
    package let keepsRequests: Bool
    let logger: Logger
    private let onViolation: @Sendable (String) -> Void
    private let record = Mutex(Record())

    private struct Record {
        var requests: [JSONValue] = []
        var requestCount = 0
        var violations: [String] = []
        var turnsServed = 0
    }

    /// What the server does with one request.
    enum Reception {
        /// Answer from the turn (numbered from 1).
        case turn(number: Int, ModelScript.Turn)
        /// The script ran out: answer 500 (the request's number, from 1).
        case exhausted(request: Int)
    }

    /// Creates a server; it listens only once run.
    /// - Parameters:
    ///   - script: the answers and expectations.
    ///   - forbiddenSecrets: strings that must never appear in a request's body, path or headers other
    ///     than `Authorization` and `x-api-key`.
    ///   - startTurn: how many turns were answered before (by an earlier run); the first request gets
    ///     the turn after them.
    ///   - keepsRequests: keep every request body for ``requests`` (default true).
    ///   - logger: where the server logs (debug: each turn served); default discards everything.
    ///   - onViolation: called with each violation as it is recorded, for a command line to show.
    package init(
        script: ModelScript,
        forbiddenSecrets: [String] = [],
        startTurn: Int = 0,
        keepsRequests: Bool = true,
        logger: Logger? = nil,
        onViolation: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.script = script
        self.forbiddenSecrets = forbiddenSecrets
        self.startTurn = max(0, startTurn)
        self.keepsRequests = keepsRequests
        self.logger = logger ?? Logger(label: "kiln.model-server", factory: { _ in SwiftLogNoOpLogHandler() })
        self.onViolation = onViolation
    }

    /// Every request body received at a model path, in order (the text, as a JSON string, when a
    /// body is not JSON).
    package var requests: [JSONValue] { record.withLock { $0.requests } }

    /// Everything requests got wrong, in order, each naming the turn or request, what was expected
    /// and what came.
    package var violations: [String] { record.withLock { $0.violations } }

    /// How many requests were answered from a turn, error turns included (not those after the script
    /// ran out).
    package var turnsServed: Int { record.withLock { $0.turnsServed } }

    /// Listens until SIGINT or SIGTERM, then stops gracefully.
    /// - Parameters:
    ///   - host: the address to bind, default loopback.
    ///   - port: the port, 0 for any free one.
    ///   - onBound: called with the bound port once the server accepts connections.
    /// - Throws: when the server cannot bind or fails.
    package func run(
        host: String = "127.0.0.1",
        port: Int = 0,
        onBound: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        try await HTTPServing.serve(
            ScriptedResponder(server: self),
            host: host,
            port: port,
            serverName: "kiln-model-server",
            logger: logger,
            onBound: onBound
        )
    }

    /// Runs the server on a free loopback port for the duration of `body`, then stops it.
    /// - Parameters:
    ///   - isolation: the caller's actor, inherited.
    ///   - body: given the base URL `http://127.0.0.1:PORT` (append `/v1` for OpenAI clients).
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, or ``ModelServerError`` with code `notListening` (or the
    ///   server's own error) when the server cannot start.
    package func withRunning<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (URL) async throws -> Result
    ) async throws -> Result {
        do {
            return try await HTTPServing.withLoopback(
                ScriptedResponder(server: self),
                serverName: "kiln-model-server",
                logger: logger,
                isolation: isolation,
                body
            )
        } catch is HTTPServing.NotListening {
            throw ModelServerError(.notListening, "the scripted model server stopped before it was listening")
        }
    }

    /// Runs a new server on a free loopback port for the duration of `body`, then stops it.
    ///
    /// For callers that do not look at what the server recorded; tests that check ``violations``
    /// create the server and call ``withRunning(isolation:_:)`` on it.
    /// - Parameters:
    ///   - script: the answers and expectations.
    ///   - forbiddenSecrets: strings that must never appear outside the key headers.
    ///   - startTurn: how many turns were answered before (by an earlier run).
    ///   - isolation: the caller's actor, inherited.
    ///   - body: given the base URL `http://127.0.0.1:PORT` (append `/v1` for OpenAI clients).
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, or the server's error when it cannot start.
    package static func withRunning<Result>(
        script: ModelScript,
        forbiddenSecrets: [String] = [],
        startTurn: Int = 0,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (URL) async throws -> Result
    ) async throws -> Result {
        let server = ScriptedModelServer(script: script, forbiddenSecrets: forbiddenSecrets, startTurn: startTurn)
        return try await server.withRunning(isolation: isolation, body)
    }

    /// Runs a server in the foreground until SIGINT or SIGTERM; prints nothing (for `kiln dev
    /// model-server`).
    /// - Parameters:
    ///   - script: the answers and expectations.
    ///   - host: the address to bind, default loopback.
    ///   - port: the port, 0 for any free one.
    ///   - forbiddenSecrets: strings that must never appear outside the key headers.
    ///   - logger: where the server logs; default discards everything.
    ///   - onBound: called with the bound port once the server accepts connections.
    ///   - onViolation: called with each violation as it is recorded.
    /// - Throws: when the server cannot bind or fails.
    package static func serve(
        script: ModelScript,
        host: String = "127.0.0.1",
        port: Int,
        forbiddenSecrets: [String] = [],
        logger: Logger? = nil,
        onBound: @escaping @Sendable (Int) -> Void,
        onViolation: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        let server = ScriptedModelServer(
            script: script,
            forbiddenSecrets: forbiddenSecrets,
            logger: logger,
            onViolation: onViolation
        )
        try await server.run(host: host, port: port) { onBound($0) }
    }

    /// Records a request, checks it and takes the turn that answers it.
    func receive(_ request: ReceivedRequest) -> Reception {
        let (reception, found) = record.withLock { record -> (Reception, [String]) in
            if keepsRequests { record.requests.append(request.recorded) }
            record.requestCount += 1
            let number = record.requestCount
            var found = request.secretViolations(forbiddenSecrets, request: number)
            if request.body == nil {
                found.append("request \(number): the body is not JSON: \(ReceivedRequest.quote(request.rawBody))")
            }
            // A request offering no tools is Kiln compacting its context and asking for a summary: answer
            // it with a fixed summary without consuming a turn, so scripts need not know when it happens.
            if (request.body?["tools"]?.array ?? []).isEmpty, !script.turns.isEmpty {
                record.violations += found
                return (.turn(number: 0, ModelScript.Turn(text: Self.summaryText)), found)
            }
            let index: Int
            if startTurn + record.turnsServed < script.turns.count {
                index = startTurn + record.turnsServed
            } else if script.repeatsLastTurn, !script.turns.isEmpty {
                index = script.turns.count - 1
            } else {
                found.append(
                    "request \(number): the script ran out; all \(script.turns.count) turns were served "
                        + "and repeat_last is false"
                )
                record.violations += found
                return (.exhausted(request: number), found)
            }
            record.turnsServed += 1
            let turn = script.turns[index]
            if let expectation = turn.expectation {
                found += request.violations(of: expectation, turn: index + 1)
            }
            if request.wireProtocol == .anthropic, request.wantsStream {
                found.append(
                    "turn \(index + 1): the request asks for an Anthropic event stream, which the scripted server "
                        + "does not speak; it answers plain JSON"
                )
            }
            record.violations += found
            return (.turn(number: index + 1, turn), found)
        }
        for violation in found { onViolation(violation) }
        return reception
    }

    /// The answer to a summary request (one that offers no tools).
    package static let summaryText = "Summary (scripted): earlier turns tried the designs and evaluations listed above."

    /// Records a violation that is not about a turn (a request to an unknown path, say).
    func recordViolation(_ violation: String) {
        record.withLock { $0.violations.append(violation) }
        onViolation(violation)
    }
}
