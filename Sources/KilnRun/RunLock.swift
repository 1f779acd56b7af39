package import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on a run folder, held by the process writing the run.
///
/// It is an advisory `flock` on the folder's `lock` file, released by the kernel when the process
/// dies, so a killed run never stays locked. The file names the holder for the message others see.
package final class RunLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock of a run folder.
    /// - Parameters:
    ///   - folder: the run folder.
    ///   - runID: the run's id, for messages.
    /// - Throws: ``RunError`` `.locked` naming the holder, or `.io`.
    package init(folder: URL, runID: String) throws(RunError) {
        let path = folder.appending(path: "lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RunError(
                .io,
                "cannot open \(path): \(String(cString: strerror(errno))); is the runs folder writable?"
            )
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder =
                (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw RunError(
                .locked,
                "run \(runID) is being written by another Kiln process (\(holder.isEmpty ? "unknown holder" : holder)); wait for it to finish or stop it first"
            )
        }
        let note =
            "pid \(getpid()) on \(ProcessInfo.processInfo.hostName) since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = fd
    }

    /// Whether some process holds the lock of a run folder now.
    /// - Parameter folder: the run folder.
    /// - Returns: true when it is held.
    package static func isHeld(folder: URL) -> Bool {
        let fd = open(folder.appending(path: "lock").path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
