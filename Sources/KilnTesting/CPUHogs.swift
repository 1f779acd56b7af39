import Subprocess
import SystemPackage

/// Runs `body` while `count` busy-loop processes (`/bin/sh -c 'while :; do :; done'`) keep cores busy,
/// then kills them (SIGKILL), also when `body` throws: a machine that other work is using, for tests of
/// what Kiln measures on one.
///
/// Each loop runs in a session of its own, as other users' work would: with the kernel's autogroup
/// scheduling (the default on most distributions), CPU is shared between sessions first, and Kiln's
/// monitors and workers each start one, so loops left in the test's own session would share a single
/// session's share and barely slow a worker.
/// - Parameters:
///   - count: how many busy loops.
///   - body: the work to do meanwhile.
/// - Returns: what `body` returns.
/// - Throws: what `body` throws, or when a loop cannot be started.
package func withCPUHogs<R: Sendable>(_ count: Int, _ body: () async throws -> R) async throws -> R {
    let (started, starting) = AsyncStream.makeStream(of: Void.self)
    return try await withThrowingTaskGroup(of: Void.self, returning: R.self) { group in
        for _ in 0..<count {
            group.addTask {
                var options = PlatformOptions()
                options.createSession = true
                _ = try await Subprocess.run(
                    .path(FilePath("/bin/sh")),
                    arguments: ["-c", "while :; do :; done"],
                    platformOptions: options,
                    input: .none,
                    output: .discarded,
                    error: .discarded
                ) { execution in
                    starting.yield()
                    // Until the group is cancelled: the sleep ends early then.
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                    try? execution.send(signal: .kill)
                }
            }
        }
        var running = 0
        for await _ in started {
            running += 1
            if running == count { break }
        }
        do {
            let result = try await body()
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}
