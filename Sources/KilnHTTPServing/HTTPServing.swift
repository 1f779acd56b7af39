package import Foundation
package import Hummingbird
package import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Serving a Hummingbird responder — the dashboard's or the scripted model's — either in the
/// foreground until Ctrl-C or SIGTERM, or on a free loopback port for the duration of a body.
///
/// Either way the server stops by a graceful shutdown, never by cancelling its task: cancelling a
/// NIO server while accepted connections are still queued traps ("Deinited NIOAsyncWriter without
/// calling finish()", apple/swift-nio#3481). Long responses (a live stream) end themselves when
/// they see the shutdown (`cancelWhenGracefulShutdown`); anything still running after
/// ``gracePeriod`` is cancelled.
package enum HTTPServing {
    /// How long a graceful shutdown may take before what is left is cancelled.
    package static let gracePeriod: Duration = .seconds(5)

    /// Serves until the process gets SIGINT or SIGTERM, then shuts down gracefully.
    /// - Parameters:
    ///   - responder: the routes.
    ///   - host: the address to bind.
    ///   - port: the port (0 for any free one).
    ///   - serverName: the `Server` header.
    ///   - logger: where the server logs.
    ///   - onBound: called with the bound port once the server accepts connections.
    /// - Throws: when the server cannot bind or fails.
    package static func serve<Responder: HTTPResponder>(
        _ responder: Responder,
        host: String,
        port: Int,
        serverName: String,
        logger: Logger,
        onBound: @escaping @Sendable (Int) async -> Void
    ) async throws where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let application = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in await onBound(channel.localAddress?.port ?? port) },
            logger: logger
        )
        var configuration = ServiceGroupConfiguration(
            services: [application],
            gracefulShutdownSignals: [.sigint, .sigterm],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = gracePeriod
        try await ServiceGroup(configuration: configuration).run()
    }

    /// Serves on a free loopback port for the duration of `body`, then shuts down gracefully.
    /// - Parameters:
    ///   - responder: the routes.
    ///   - serverName: the `Server` header.
    ///   - logger: where the server logs.
    ///   - isolation: the caller's actor, inherited.
    ///   - body: given the base URL `http://127.0.0.1:PORT`.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws; the server's error when it cannot start, or
    ///   ``NotListening`` when it stopped before listening.
    package static func withLoopback<Responder: HTTPResponder, Result>(
        _ responder: Responder,
        serverName: String,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (URL) async throws -> Result
    ) async throws -> Result where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: serverName),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { continuation.yield(port) }
            },
            logger: logger
        )
        var configuration = ServiceGroupConfiguration(services: [application], logger: logger)
        configuration.maximumGracefulShutdownDuration = gracePeriod
        let group = ServiceGroup(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { tasks in
            tasks.addTask {
                defer { continuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(isolation: isolation),
                let url = URL(string: "http://127.0.0.1:\(port)")
            else {
                try await tasks.next()
                throw NotListening()
            }
            let result: Result
            do {
                result = try await body(url)
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }

    /// The server stopped before it listened.
    package struct NotListening: Error, CustomStringConvertible {
        package var description: String { "the server stopped before it was listening" }
    }
}
