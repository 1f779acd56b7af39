package import Foundation
import Hummingbird
import KilnHTTPServing
package import KilnRun
import Logging
import NIOCore
import Synchronization

/// The dashboard: a read-only web view of the runs folder, served from the journals alone (it can
/// start after a run, in another process, and never writes or locks a run).
///
/// Binding to anything but loopback requires a token, checked on every request
/// (`Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser's first visit).
package final class DashboardServer: Sendable {
    /// The runs folder.
    package let store: RunStore
    /// The token every request must carry, if any.
    package let token: String?
    /// How often a live view checks its run's journal for new events.
    package let pollInterval: Duration
    /// Each run's state as last folded, advanced with only the events written since.
    private let states = Mutex<[String: RunState]>([:])
    /// One read-only journal connection per run, shared by every request and viewer.
    private let journals = Mutex<[String: Journal]>([:])

    /// The run's journal, opened once.
    /// - Parameter id: the run's id (already resolved).
    /// - Returns: the journal, or nil when it cannot be opened.
    func journal(of id: String) -> Journal? {
        if let open = journals.withLock({ $0[id] }) { return open }
        guard let journal = try? Journal(url: store.journalURL(of: id), readOnly: true) else { return nil }
        journals.withLock { $0[id] = journal }
        return journal
    }

    /// A failure to start the dashboard.
    package struct StartError: Error, CustomStringConvertible {
        package var description: String
    }

    /// Creates a dashboard over a runs folder.
    /// - Parameters:
    ///   - store: the runs folder.
    ///   - token: the token every request must carry (required when binding beyond loopback).
    ///   - pollInterval: how often live views check their journal.
    package init(store: RunStore, token: String? = nil, pollInterval: Duration = .milliseconds(500)) {
        self.store = store
        self.token = token
        self.pollInterval = pollInterval
    }

    /// A run's current state: the cached fold advanced by the events written since it was made.
    /// - Parameter id: the run's id (already resolved).
    /// - Returns: the state, or nil when the journal cannot be read.
    func state(of id: String) -> RunState? {
        guard let journal = journal(of: id) else { return nil }
        var state = states.withLock { $0[id] } ?? RunState()
        guard let entries = try? journal.entries(after: state.lastSequence) else { return nil }
        if entries.isEmpty, state.settings != nil { return state }
        for entry in entries { state.apply(entry) }
        let folded = state
        states.withLock { $0[id] = folded }
        return folded
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully (live streams end, pages in flight finish).
    /// - Parameters:
    ///   - host: the address to bind; anything but loopback needs a token.
    ///   - port: the port (0 for any free one).
    ///   - onBound: called with the bound port.
    /// - Throws: ``StartError`` when a token is missing for a non-loopback host, or what the server throws.
    package func run(
        host: String = "127.0.0.1",
        port: Int = 0,
        onBound: @escaping @Sendable (Int) async -> Void = { _ in }
    )
        async throws
    {
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        guard loopback || !(token ?? "").isEmpty else {
            throw StartError(
                description:
                    "binding to \(host) exposes the runs beyond this machine: pass --token SECRET (then open /?token=SECRET)"
            )
        }
        try await HTTPServing.serve(
            DashboardResponder(server: self),
            host: host,
            port: port,
            serverName: "kiln-dashboard",
            logger: Self.logger,
            onBound: onBound
        )
    }

    /// Runs the dashboard on loopback for the duration of `body`, which gets its base URL; then
    /// stops it gracefully.
    /// - Parameters:
    ///   - isolation: the caller's actor, inherited.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` or the server throws.
    package func withRunning<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (URL) async throws -> Result
    ) async throws -> Result {
        do {
            return try await HTTPServing.withLoopback(
                DashboardResponder(server: self),
                serverName: "kiln-dashboard",
                logger: Self.logger,
                isolation: isolation,
                body
            )
        } catch let error as HTTPServing.NotListening {
            throw StartError(description: error.description)
        }
    }

    private static let logger = Logger(label: "kiln.serve", factory: { _ in SwiftLogNoOpLogHandler() })
}
