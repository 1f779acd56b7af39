package import Foundation
import Hummingbird
import KilnHTTPServing
import KilnHarness
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
    /// Each run's live fragment as last rendered, with the stream event that carries it, behind a lock
    /// of that run's own: one run's render never waits for another's.
    private let renders = Mutex<[String: RunRender]>([:])
    /// Called before a run's fragment is rendered, under that run's lock (tests use it to hold one).
    private let beforeRender: (@Sendable (String) -> Void)?
    /// How many times a run's live fragment has been rendered, for all runs and viewers.
    package var renderCount: Int { renderTally.load(ordering: .relaxed) }
    private let renderTally = Atomic<Int>(0)
    /// Whether renders are reused (off only to measure rendering).
    private let reusesRenders: Bool

    /// One run's render and its lock.
    final class RunRender: Sendable {
        let rendered = Mutex<Rendered?>(nil)
    }

    /// The render slot of a run (the map's lock is held only to find it).
    private func slot(of id: String) -> RunRender {
        renders.withLock { renders in
            if let slot = renders[id] { return slot }
            let slot = RunRender()
            renders[id] = slot
            return slot
        }
    }

    /// A run's live fragment rendered at one journal sequence.
    struct Rendered {
        /// The state it shows.
        var state: RunState
        /// When it was rendered.
        var at: ContinuousClock.Instant
        /// The `#live` fragment.
        var fragment: String
        /// The server-sent event carrying it (`id`, `event: update`, `{"seq": N, "html": …}`), made
        /// when a stream first asks for it: a page request needs only the fragment.
        var event: ByteBuffer?
    }

    /// Each run's journal sequence as last read, and when.
    private let sequences = Mutex<[String: (sequence: Int, at: ContinuousClock.Instant)]>([:])

    /// A run's last journal sequence, read at most every 100 ms however many viewers ask.
    /// - Parameter id: the run's id (already resolved).
    /// - Returns: the sequence, or nil when the journal cannot be read.
    func lastSequence(of id: String) -> Int? {
        let now = ContinuousClock.now
        if let known = sequences.withLock({ $0[id] }), now - known.at < .milliseconds(100) { return known.sequence }
        guard let sequence = try? journal(of: id)?.lastSequence() else { return nil }
        sequences.withLock { $0[id] = (sequence, now) }
        return sequence
    }

    /// When the server was made: live views' ticks are multiples of the poll interval after it.
    private let epoch = ContinuousClock.now

    /// The next tick of the live views: the first multiple of the poll interval after now, counted
    /// from the server's start, so that every viewer of a run wakes at the same moment.
    func nextTick() -> ContinuousClock.Instant {
        let ticks = Int(((ContinuousClock.now - epoch) / pollInterval).rounded(.down)) + 1
        return epoch + pollInterval * ticks
    }

    /// `?token=…` for the pages' links (percent-encoded), or nothing.
    var tokenQuery: String {
        token.map { "?token=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" } ?? ""
    }

    /// A run's live fragment. Every viewer of a run gets the same one: it is rendered again only when
    /// the journal has grown, or a second has passed (so that a quiet run's elapsed time still moves).
    /// - Parameter id: the run's id (already resolved).
    /// - Returns: the render, or nil when the journal cannot be read.
    func live(of id: String) -> Rendered? {
        slot(of: id).rendered.withLock { current(id, in: &$0, maxAge: .seconds(1)) }
    }

    /// A run's live fragment as a server-sent `update` event, made once per render for every viewer.
    /// - Parameter id: the run's id (already resolved).
    /// - Returns: the sequence it shows and the event, or nil when the journal cannot be read.
    func liveEvent(of id: String) -> (sequence: Int, event: ByteBuffer)? {
        slot(of: id).rendered.withLock { cached in
            // An update is made for a journal sequence: every viewer of that sequence gets the same one,
            // however long a loaded machine takes to wake them all.
            guard var rendered = current(id, in: &cached, maxAge: nil) else { return nil }
            if let event = rendered.event { return (rendered.state.lastSequence, event) }
            let sequence = rendered.state.lastSequence
            let payload =
                (try? JSONEncoder().encode(LiveUpdate(seq: sequence, html: rendered.fragment))) ?? Data("{}".utf8)
            var event = ByteBuffer(string: "id: \(sequence)\nevent: update\ndata: ")
            event.writeBytes(payload)
            event.writeString("\n\n")
            rendered.event = event
            if reusesRenders { cached = rendered }
            return (sequence, event)
        }
    }

    /// The run's render, reused or made again; called under the run's own lock, so that the viewers
    /// of one update, who all ask at once, get the first one's render without reading the journal.
    /// - Parameters:
    ///   - id: the run's id.
    ///   - slot: the run's cached render.
    ///   - maxAge: how old a render of the journal's last sequence may be (a page shows the elapsed time),
    ///     or nil for any age.
    /// - Returns: the render, or nil when the journal cannot be read.
    private func current(_ id: String, in slot: inout Rendered?, maxAge: Duration?) -> Rendered? {
        let now = ContinuousClock.now
        if reusesRenders, let cached = slot, cached.state.lastSequence >= lastSequence(of: id) ?? .max,
            maxAge.map({ now - cached.at < $0 }) ?? true
        {
            return cached
        }
        beforeRender?(id)
        guard let state = state(of: id) else { return nil }
        let recent = (try? journal(of: id)?.entries(after: max(state.lastSequence - 15, 0))) ?? []
        let fragment = DashboardPages.liveFragment(
            id: id,
            state: state,
            recent: recent,
            executor: executorStatus(of: id),
            tokenQuery: tokenQuery
        )
        let rendered = Rendered(state: state, at: now, fragment: fragment)
        if reusesRenders { slot = rendered }
        renderTally.add(1, ordering: .relaxed)
        return rendered
    }

    private struct LiveUpdate: Encodable {
        var seq: Int
        var html: String
    }

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
    ///   - reusesRenders: whether viewers share a run's render (off only to measure rendering).
    ///   - beforeRender: called before a run's fragment is rendered, under that run's lock.
    package init(
        store: RunStore,
        token: String? = nil,
        pollInterval: Duration = .seconds(2),
        reusesRenders: Bool = true,
        beforeRender: (@Sendable (String) -> Void)? = nil
    ) {
        self.store = store
        self.token = token
        self.pollInterval = pollInterval
        self.reusesRenders = reusesRenders
        self.beforeRender = beforeRender
    }

    /// A run's current state: the cached fold advanced by the events written since it was made.
    /// - Parameter id: the run's id (already resolved).
    /// - Returns: the state, or nil when the journal cannot be read.
    /// The status a running run's executor left beside its journal (slots per node, evaluations in
    /// flight), while the run is not stopped.
    func executorStatus(of id: String) -> ExecutorStatus? {
        let url = store.folder(of: id).appending(path: ExecutorStatus.fileName)
        guard let data = try? Data(contentsOf: url) else { return nil }
        return try? EvaluationCoding.decoder.decode(ExecutorStatus.self, from: data)
    }

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
