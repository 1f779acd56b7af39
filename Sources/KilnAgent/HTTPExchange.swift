import AsyncHTTPClient
import Foundation
import KilnCore
import NIOCore
import NIOHTTP1

/// One POST of JSON to a model endpoint over async-http-client, with a deadline for the whole
/// exchange and errors mapped to ``ModelError`` (never mentioning the key).
struct HTTPExchange: Sendable {
    var client: HTTPClient = Self.client

    /// One client for the process (like `HTTPClient.shared`, never shut down), configured for model
    /// endpoints: a refused connection fails at once instead of being retried until the deadline, and
    /// reads wait as long as the request's own deadline allows (a model may think for minutes).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(15), read: nil)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: HTTPClientResponse.Body?
    }

    /// Posts `body` and hands the response (status, headers, unread body) to `handle`, all within
    /// `timeout`.
    func post<T: Sendable>(
        url: String,
        headers: [(String, String)],
        body: Data,
        timeout: Duration,
        endpoint: String,
        handle: @escaping @Sendable (Response) async throws(ModelError) -> T
    ) async throws(ModelError) -> T {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let client = self.client
        let prepared = request
        let seconds = Int64(timeout.components.seconds) + 1
        do {
            let answer = try await withDeadline(timeout) {
                let response = try await client.execute(prepared, timeout: .seconds(seconds))
                let headers = response.headers.map { ($0.name, $0.value) }
                return try await handle(
                    Response(status: Int(response.status.code), headers: headers, body: response.body)
                )
            }
            guard let answer else {
                throw ModelError(
                    .timeout,
                    "\(endpoint) did not answer within \(timeout); raise --request-timeout if the model is slow"
                )
            }
            return answer
        } catch let error as ModelError {
            throw error
        } catch let error as HTTPClientError {
            switch error {
            case .connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout, .tlsHandshakeTimeout:
                throw ModelError(.timeout, "\(endpoint) timed out (\(error.shortDescription))")
            case .invalidURL, .emptyHost, .emptyScheme:
                throw ModelError(.connection, "'\(url)' is not a valid URL; check --base-url")
            default:
                throw ModelError(
                    .connection,
                    "the connection to \(endpoint) failed (\(error.shortDescription)); check --base-url and that the server is up"
                )
            }
        } catch is CancellationError {
            throw ModelError(.timeout, "the request to \(endpoint) was cancelled")
        } catch {
            throw ModelError(
                .connection,
                "cannot reach \(endpoint) (\(String(describing: error).prefix(200))); check --base-url and that the server is up"
            )
        }
    }

    /// Reads a whole (error or JSON) body, up to `limit` bytes.
    static func collect(_ body: HTTPClientResponse.Body?, limit: Int = 32 << 20) async throws(ModelError) -> Data {
        guard let body else { return Data() }
        do {
            let buffer = try await body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw ModelError(
                .connection,
                "the connection dropped while reading the answer (\(String(describing: error).prefix(120)))"
            )
        }
    }

    /// Maps a non-2xx status and its body to an error.
    static func error(status: Int, body: Data, headers: [(String, String)], endpoint: String, keyVariable: String?)
        -> ModelError
    {
        let text = String(decoding: body.prefix(2000), as: UTF8.self)
        let detail =
            (JSONValue.parse(body)?["error"]?["message"]?.string ?? JSONValue.parse(body)?["message"]?.string
            ?? text).prefix(300)
        let lower = detail.lowercased()
        switch status {
        case 401, 403:
            let key = keyVariable.map { "$\($0)" } ?? "the API key"
            return ModelError(
                .unauthorized,
                "\(endpoint) rejected the request (HTTP \(status)): check \(key): \(detail)"
            )
        case 404:
            return ModelError(.notFound, "\(endpoint) answered 404: unknown model or wrong base URL (\(detail))")
        case 429:
            // Retry-After in seconds; anything not a sane number of seconds (inf, nan, a date) is ignored and
            // the client's own backoff applies, capped at an hour.
            let retry = headers.first { $0.0.lowercased() == "retry-after" }.flatMap { Double($0.1) }
            return ModelError(
                .rateLimited,
                "\(endpoint) is rate limiting (HTTP 429): \(detail)",
                retryAfter: retry.flatMap { $0.isFinite ? Duration.checkedSeconds(min($0, 3600)) : nil }
            )
        case 500...599, 529:
            return ModelError(.serverError, "\(endpoint) failed (HTTP \(status)): \(detail)")
        default:
            if lower.contains("context") || lower.contains("too long")
                || lower.contains("maximum") && lower.contains("token")
            {
                return ModelError(
                    .contextOverflow,
                    "the conversation exceeds the model's context (HTTP \(status)): \(detail)"
                )
            }
            return ModelError(.badRequest, "\(endpoint) rejected the request (HTTP \(status)): \(detail)")
        }
    }
}

extension HTTPClientError {
    fileprivate var shortDescription: String { String(describing: self).prefix(120).description }
}
