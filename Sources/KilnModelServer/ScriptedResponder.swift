import Hummingbird
import KilnAgent
import KilnCore
import Logging
import NIOCore
import ServiceLifecycle

/// The request context of the scripted server: Hummingbird's, plus the connection, so that a turn
/// can drop it.
struct ScriptedRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = CoreRequestContextStorage(source: source)
        self.channel = source.channel
    }
}

/// Thrown to abort a response, which makes Hummingbird close the connection.
private struct ConnectionDropped: Error {}

/// Answers model requests from the server's script.
struct ScriptedResponder: HTTPResponder {
    let server: ScriptedModelServer

    func respond(to request: Request, context: ScriptedRequestContext) async throws -> Response {
        let path = request.uri.path
        let wireProtocol: ModelProtocol
        if path.hasSuffix("/chat/completions") {
            wireProtocol = .openAI
        } else if path.hasSuffix("/messages") {
            wireProtocol = .anthropic
        } else {
            server.recordViolation(
                "a request to \(request.method) \(path), which is not a model path (…/chat/completions or …/messages)"
            )
            return Self.json(
                status: 404,
                Self.errorBody(status: 404, protocol: .openAI, message: "no route for \(path)")
            )
        }
        guard request.method == .post else {
            server.recordViolation("a request to \(request.method) \(path); model requests are POSTs")
            return Self.json(status: 405, Self.errorBody(status: 405, protocol: wireProtocol, message: "use POST"))
        }
        var request = request
        let buffer = try await request.collectBody(upTo: 64 << 20)
        let rawBody = String(buffer: buffer)
        let received = ReceivedRequest(
            wireProtocol: wireProtocol,
            target: request.uri.description,
            headers: request.headers.map { (name: $0.name.rawName, value: $0.value) },
            rawBody: rawBody,
            body: JSONValue.parse(rawBody)
        )
        switch server.receive(received) {
        case .exhausted(let number):
            let message =
                "the model script ran out: request \(number) came after all \(server.script.turns.count) turns "
                + "were served and repeat_last is false"
            return Self.json(status: 500, Self.errorBody(status: 500, protocol: wireProtocol, message: message))
        case .turn(let number, let turn):
            server.logger.debug(
                "answering from the script",
                metadata: ["kiln.model-server.turn": "\(number)", "kiln.model-server.path": "\(path)"]
            )
            return try await answer(turn, number: number, to: received, context: context)
        }
    }

    private func answer(
        _ turn: ModelScript.Turn,
        number: Int,
        to request: ReceivedRequest,
        context: ScriptedRequestContext
    ) async throws -> Response {
        if turn.delay > .zero {
            // A shutting-down server does not wait out a scripted delay.
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: turn.delay) }
        }
        if turn.status != 200 {
            let message = "scripted HTTP \(turn.status) (turn \(number))"
            let body =
                turn.errorBody ?? Self.errorBody(status: turn.status, protocol: request.wireProtocol, message: message)
            var response = Self.json(status: turn.status, body)
            if let retryAfter = turn.retryAfter {
                let seconds = retryAfter.inSeconds
                response.headers[.retryAfter] = seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
            }
            if let header = turn.retryAfterHeader { response.headers[.retryAfter] = header }
            return response
        }
        let answer = ScriptedAnswer(
            turn: turn,
            number: number,
            wireProtocol: request.wireProtocol,
            model: request.model,
            requestSize: request.rawBody.utf8.count
        )
        if request.wireProtocol == .openAI, turn.isStreaming ?? request.wantsStream {
            return Self.stream(answer, turn: turn, includesUsage: request.includesUsage, channel: context.channel)
        }
        if turn.dropsConnection {
            try? await context.channel.close().get()  // fails only when already closed, which is the point
            throw ConnectionDropped()
        }
        let body = request.wireProtocol == .openAI ? answer.openAIBody : answer.anthropicBody
        if turn.truncates {
            let text = body.text.utf8
            var response = Self.json(status: 200, body)
            response.body = ResponseBody(byteBuffer: ByteBuffer(bytes: text.prefix(text.count / 2)))
            return response
        }
        return Self.json(status: 200, body)
    }

    /// An OpenAI event stream: the chunks, `data: [DONE]`; or half of the content chunks, then a
    /// clean end (`truncate`) or an aborted connection (`drop_connection`).
    private static func stream(
        _ answer: ScriptedAnswer,
        turn: ModelScript.Turn,
        includesUsage: Bool,
        channel: any Channel
    ) -> Response {
        let content = answer.openAIContentChunks(includesUsage: includesUsage)
        let closing = answer.openAIClosingChunks(includesUsage: includesUsage)
        let isCutShort = turn.dropsConnection || turn.truncates
        let dropsConnection = turn.dropsConnection
        let body = ResponseBody { writer in
            let chunks = isCutShort ? Array(content.prefix(max(1, content.count / 2))) : content + closing
            for chunk in chunks {
                try await writer.write(ByteBuffer(string: "data: \(chunk.text)\n\n"))
            }
            if dropsConnection {
                try? await channel.close().get()  // fails only when already closed, which is the point
                throw ConnectionDropped()
            }
            if !isCutShort { try await writer.write(ByteBuffer(string: "data: [DONE]\n\n")) }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }

    private static func json(status: Int, _ body: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: body.text))
        )
    }

    /// An error body as the protocol's real endpoints send it.
    static func errorBody(status: Int, protocol wireProtocol: ModelProtocol, message: String) -> JSONValue {
        switch wireProtocol {
        case .openAI:
            let (type, code): (String, JSONValue) =
                switch status {
                case 401: ("invalid_request_error", "invalid_api_key")
                case 404: ("invalid_request_error", "model_not_found")
                case 429: ("requests", "rate_limit_exceeded")
                case 500...: ("server_error", .null)
                default: ("invalid_request_error", .null)
                }
            return ["error": ["message": .string(message), "type": .string(type), "param": .null, "code": code]]
        case .anthropic:
            let type =
                switch status {
                case 400: "invalid_request_error"
                case 401: "authentication_error"
                case 403: "permission_error"
                case 404: "not_found_error"
                case 413: "request_too_large"
                case 429: "rate_limit_error"
                case 529: "overloaded_error"
                default: "api_error"
                }
            return ["type": "error", "error": ["type": .string(type), "message": .string(message)]]
        }
    }
}
