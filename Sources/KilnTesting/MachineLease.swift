/// Exclusive use of the machine among the tests that take it: those that load it heavily for minutes (a
/// loopback Ray cluster evaluating on every core) and those whose assertions compare the machine's load
/// from one moment to the next (a quiet run, then a busy one). Other tests still run beside either.
package actor MachineLease {
    private static let shared = MachineLease()
    private var isHeld = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` once no other holder of the lease runs, and holds it meanwhile.
    /// - Parameter body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws.
    package static func exclusively<R>(_ body: () async throws -> R) async throws -> R {
        await shared.acquire()
        do {
            let result = try await body()
            await shared.release()
            return result
        } catch {
            await shared.release()
            throw error
        }
    }

    private func acquire() async {
        guard isHeld else {
            isHeld = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty { isHeld = false } else { waiting.removeFirst().resume() }
    }
}
