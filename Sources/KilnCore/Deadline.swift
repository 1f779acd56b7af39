/// Runs `operation` with a deadline: its result, or nil when `timeout` passed first (the operation is
/// then cancelled). The one way Kiln bounds a call it waits on (a child process, an HTTP request).
/// - Parameters:
///   - timeout: how long to wait.
///   - operation: the work.
/// - Returns: its result, or nil at the deadline.
/// - Throws: what `operation` throws, or `CancellationError` when the caller is cancelled.
package func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { return nil }
        return first
    }
}

/// Runs `operation` in the caller's task while a watchdog calls `onTimeout` if it has not finished by
/// `timeout` (for work that cannot be cancelled, only ended from outside: killing a process ends its
/// pending reads).
/// - Parameters:
///   - timeout: how long the operation may take.
///   - onTimeout: what ends it.
///   - operation: the work.
/// - Returns: the operation's result.
package func withWatchdog<T>(
    _ timeout: Duration,
    onTimeout: @escaping @Sendable () -> Void,
    _ operation: () async -> T
) async -> T {
    await withTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            do {
                try await Task.sleep(for: timeout)
            } catch {
                return
            }
            onTimeout()
        }
        let result = await operation()
        tasks.cancelAll()
        return result
    }
}
