import Dispatch
import Foundation
import KilnCore
import KilnRun
import KilnServe
import KilnTesting
import Synchronization
import Testing

/// Holds one run's render inside the dashboard's `beforeRender` hook (called under that run's render
/// lock) until the test releases it.
///
/// The render path is synchronous, so the hold is a blocking wait. It gives up after `limit`, so that
/// a regression (a lock shared by every run, which then also blocks the request that would let the
/// test go on) ends in a failed expectation rather than a hung test: with every thread of the
/// cooperative pool blocked, nothing else could run to release it.
final class RenderHold: Sendable {
    /// The run whose render is held.
    let run: String
    private let gate = DispatchSemaphore(value: 0)
    private let limit: DispatchTimeInterval
    private let state = Mutex(State())
    private let (entries, entered) = AsyncStream.makeStream(of: Void.self)

    private struct State {
        var isHolding = false
        var isReleased = false
        var hasHeld = false
        var hasGivenUp = false
    }

    init(run: String, limit: DispatchTimeInterval = .seconds(30)) {
        self.run = run
        self.limit = limit
    }

    /// The dashboard's hook: blocks the first render of ``run`` until ``release()``.
    func beforeRender(_ id: String) {
        guard id == run else { return }
        let isFirst = state.withLock { state in
            defer { state.hasHeld = true }
            if !state.hasHeld { state.isHolding = true }
            return !state.hasHeld
        }
        guard isFirst else { return }
        entered.yield()
        let outcome = gate.wait(timeout: .now() + limit)
        state.withLock { state in
            state.isHolding = false
            state.hasGivenUp = outcome == .timedOut
        }
    }

    /// Waits until the held run's render has begun (and is blocked).
    /// - Returns: false when the hold ended without it.
    func waitUntilHeld() async -> Bool {
        for await _ in entries { return true }
        return false
    }

    /// Whether the run's render is blocked in the hook now.
    var isHolding: Bool { state.withLock { $0.isHolding } }

    /// Whether the hold ended by its time limit, not by the test.
    var hasGivenUp: Bool { state.withLock { $0.hasGivenUp } }

    /// Lets the held render go on (once; later calls do nothing).
    func release() {
        let releases = state.withLock { state in
            defer { state.isReleased = true }
            return !state.isReleased
        }
        if releases {
            gate.signal()
            entered.finish()
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct DashboardRenderLockTests {
    @Test("while one run's render is held under its lock, another run's page is served")
    func oneRunsRenderDoesNotBlockAnother() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder.appending(path: "runs"))
            let held = try SyntheticRun(.tuner).write(in: store)
            let other = try SyntheticRun(.agent).write(in: store)
            let hold = RenderHold(run: held)
            let server = DashboardServer(store: store, beforeRender: hold.beforeRender)
            try await server.withRunning { base in
                let heldURL = base.appending(path: "runs/\(held)")
                let otherURL = base.appending(path: "runs/\(other)")
                try await withThrowingTaskGroup(of: (status: Int, body: String).self) { group in
                    // Whatever happens below, the held render is let go before the group waits for it.
                    defer { hold.release() }
                    group.addTask { try await DashboardTests.get(heldURL) }
                    let isHeld = try await withDeadline(.seconds(10)) { await hold.waitUntilHeld() }
                    try #require(isHeld == true, "the held run's render never began")
                    let page = try await withDeadline(.seconds(10)) { try await DashboardTests.get(otherURL) }
                    let wasStillHeld = hold.isHolding
                    hold.release()
                    let served = try #require(page, "the other run's page was not served within 10 s")
                    #expect(served.status == 200)
                    #expect(served.body.contains("Kiln run \(other)"))
                    #expect(wasStillHeld, "the other run's page came only once the held render had ended")
                    let first = try #require(try await group.next())
                    #expect(first.status == 200)
                    #expect(first.body.contains("Kiln run \(held)"))
                    #expect(!hold.hasGivenUp)
                }
            }
        }
    }
}
