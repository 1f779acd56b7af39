import Foundation
import Hummingbird
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask
import NIOCore
import ServiceLifecycle

/// Routes the dashboard's pages and JSON API. Everything is read from the journals; run ids are
/// resolved against the runs folder (no path from a URL ever reaches the file system).
struct DashboardResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let server: DashboardServer

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        if let token = server.token, !token.isEmpty {
            let bearer = request.headers[.authorization].map { $0 == "Bearer \(token)" } ?? false
            let query = request.uri.queryParameters.get("token") == token
            guard bearer || query else {
                return Self.json(
                    status: 401,
                    ["error": "this dashboard needs its token: Authorization: Bearer TOKEN, or ?token=TOKEN"]
                )
            }
        }
        guard request.method == .get || request.method == .head else {
            return Self.json(status: 405, ["error": "the dashboard is read-only"])
        }
        let parts = request.uri.path.split(separator: "/").map(String.init)
        let tokenQuery = server.tokenQuery
        switch parts.first {
        case nil:
            return Self.html(DashboardPages.runsList(server.store.summaries(), tokenQuery: tokenQuery))
        case "runs" where parts.count == 2:
            guard let id = resolve(parts[1]), let live = server.live(of: id) else { return notFound(parts[1]) }
            return Self.html(
                DashboardPages.runPage(id: id, state: live.state, live: live.fragment, tokenQuery: tokenQuery)
            )
        case "runs" where parts.count == 4 && parts[2] == "candidates":
            guard let (id, state) = load(parts[1]) else { return notFound(parts[1]) }
            guard let number = Int(parts[3]), let candidate = state.candidates[number] else {
                return Self.json(status: 404, ["error": "run \(id) has no candidate '\(parts[3])'"])
            }
            return Self.html(
                DashboardPages.candidatePage(id: id, candidate: candidate, state: state, tokenQuery: tokenQuery)
            )
        case "api":
            return try await api(Array(parts.dropFirst()), request: request)
        default:
            return Self.json(status: 404, ["error": "no page \(request.uri.path); see / and docs/API.md"])
        }
    }

    private func api(_ parts: [String], request: Request) async throws -> Response {
        guard parts.first == "runs" else {
            return Self.json(status: 404, ["error": "no API \(parts.joined(separator: "/"))"])
        }
        if parts.count == 1 {
            return Self.encoded(server.store.summaries())
        }
        guard let (id, state) = load(parts[1]) else { return notFound(parts[1]) }
        switch parts.count == 2 ? "" : parts[2] {
        case "":
            return Self.encoded(DashboardAPI.RunDetail(id: id, state: state))
        case "events":
            let after = Int(request.uri.queryParameters.get("after") ?? "0") ?? 0
            guard let journal = server.journal(of: id) else { return notFound(id) }
            let entries = try journal.entries(after: after).prefix(1000)
            return Self.encoded(entries.map { DashboardAPI.EventLine($0) })
        case "candidates" where parts.count == 4:
            guard let number = Int(parts[3]), let candidate = state.candidates[number] else {
                return Self.json(status: 404, ["error": "run \(id) has no candidate '\(parts[3])'"])
            }
            return Self.encoded(DashboardAPI.CandidateDetail(candidate: candidate, state: state))
        case "stream":
            return stream(id: id, request: request, current: state.lastSequence)
        default:
            return Self.json(status: 404, ["error": "no API \(parts.joined(separator: "/"))"])
        }
    }

    /// Server-sent events: `update` with the journal's last sequence number whenever it grows.
    /// Viewers check on a shared tick (the poll interval), so that all the viewers of a run share
    /// one cheap read of its journal per tick; heartbeats keep proxies open.
    ///
    /// With `html=1` (the run page's script), each update also carries the new `#live` fragment,
    /// rendered once for all viewers, so an open page never fetches anything.
    ///
    /// The viewer says what it has seen — `?after=N` (the page embeds the sequence it was rendered
    /// at) or, when a browser reconnects, the `Last-Event-ID` of the last update — and gets an update
    /// at once if the journal has grown since; nothing written between a page's render and its
    /// stream's start is missed.
    private func stream(id: String, request: Request, current start: Int) -> Response {
        let interval = server.pollInterval
        let server = self.server
        let carriesHTML = request.uri.queryParameters.get("html") == "1"
        let seen =
            request.headers.first(where: { $0.name.canonicalName == "last-event-id" }).flatMap { Int($0.value) }
            ?? request.uri.queryParameters.get("after").flatMap { Int($0) } ?? start
        let body = ResponseBody { writer in
            var last = min(max(seen, 0), start)
            var quiet = Duration.zero
            // A viewer that leaves, or a server shutting down gracefully, ends the loop (within one
            // poll interval); the stream is always finished, never dropped.
            do {
                try await writer.write(ByteBuffer(string: "event: hello\ndata: {\"seq\": \(start)}\n\n"))
                while !Task.isCancelled, !Task.isShuttingDownGracefully {
                    let current = server.lastSequence(of: id) ?? last
                    if current > last {
                        quiet = .zero
                        if carriesHTML, let live = server.liveEvent(of: id) {
                            last = live.sequence
                            try await writer.write(live.event)
                        } else {
                            last = current
                            try await writer.write(
                                ByteBuffer(string: "id: \(current)\nevent: update\ndata: {\"seq\": \(current)}\n\n")
                            )
                        }
                    } else if quiet >= .seconds(15) {
                        quiet = .zero
                        try await writer.write(ByteBuffer(string: ": ping\n\n"))
                    }
                    // Every viewer wakes on the same tick, so the viewers of a run share one read of
                    // its journal and one render per tick, however many there are.
                    try await Task.sleep(until: server.nextTick(), clock: .continuous)
                    quiet += interval
                }
            } catch {}
            try? await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }

    private func load(_ requested: String) -> (String, RunState)? {
        guard let id = resolve(requested), let state = server.state(of: id) else { return nil }
        return (id, state)
    }

    /// A run id from a URL: only an exact, existing id (never a prefix, never a path).
    private func resolve(_ requested: String) -> String? {
        guard let id = try? server.store.resolve(requested), id == requested else { return nil }
        return id
    }

    private func notFound(_ id: String) -> Response {
        Self.json(status: 404, ["error": "no run '\(id.prefix(80))' in the runs folder"])
    }

    static func html(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] =
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(status: Int, _ object: [String: String]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let data = (try? JSONEncoder().encode(object)) ?? Data("{}".utf8)
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func encoded(_ value: some Encodable) -> Response {
        guard let data = try? EvaluationCoding.encoder.encode(value) else {
            return json(status: 500, ["error": "could not encode the answer"])
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
