package import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One page open in a headless Chromium that stays running, driven over the Chrome DevTools
/// protocol on a pipe (`--remote-debugging-pipe`: commands in on fd 3, answers out on fd 4, each a
/// JSON text ended by a NUL). Unlike ``HeadlessBrowser/render(_:screenshot:)``, which returns at
/// the page's load, it lets a test watch a page change afterwards — a live dashboard, for one.
package final class BrowserPage {
    /// What went wrong talking to the browser.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    private let pid: pid_t
    private let commands: Int32
    private let answers: Int32
    private let profile: URL
    private var buffer: [UInt8] = []
    private var nextID = 0
    private var session = ""

    /// Starts the browser and opens `url` in a new page.
    /// - Parameter url: the page to open.
    /// - Throws: ``Failure`` when no browser is installed, it cannot start, or it does not answer.
    package init(_ url: URL) throws {
        guard let executable = HeadlessBrowser.executable else {
            throw Failure(description: "no headless Chromium installed (.ci/run installs chromium-headless-shell)")
        }
        profile = FileManager.default.temporaryDirectory.appending(path: "kiln-browser-\(UUID().uuidString)")
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw Failure(description: "cannot make pipes: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec: only the dup2'd copies (fds 3 and 4) reach the browser, and no other child.
        for descriptor in toBrowser + fromBrowser { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so that closing the page kills every helper process Chromium made.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let arguments = [
            executable, "--no-sandbox", "--disable-gpu", "--headless", "--hide-scrollbars",
            "--remote-debugging-pipe", "--user-data-dir=\(profile.path)", "about:blank",
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, &argv, &envp)
        close(toBrowser[0])
        close(fromBrowser[1])
        commands = toBrowser[1]
        answers = fromBrowser[0]
        pid = child
        guard status == 0 else {
            close(commands)
            close(answers)
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        let target = try call("Target.createTarget", ["url": url.absoluteString], inPage: false)
        guard let targetID = target["targetId"] as? String else {
            throw Failure(description: "the browser made no page: \(target)")
        }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true], inPage: false)
        guard let session = attached["sessionId"] as? String else {
            throw Failure(description: "cannot attach to the page: \(attached)")
        }
        self.session = session
    }

    deinit {
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(commands)
        close(answers)
        try? FileManager.default.removeItem(at: profile)
    }

    /// Evaluates a JavaScript expression in the page.
    /// - Parameter expression: the expression; its value must be JSON (a string, number, …).
    /// - Returns: its value, or nil when it is null or undefined.
    /// - Throws: ``Failure`` when the browser does not answer or the script throws.
    package func evaluate(_ expression: String) throws -> Any? {
        let answer = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true], inPage: true)
        if let exception = answer["exceptionDetails"] {
            throw Failure(description: "the page's script threw: \(exception)")
        }
        return (answer["result"] as? [String: Any])?["value"]
    }

    /// Evaluates `expression` in the page every 100 ms until it yields a string `accept` takes.
    /// - Returns: the accepted string.
    /// - Throws: ``Failure`` when `timeout` passes first (the message names the last value seen).
    package func waitFor(
        _ expression: String,
        timeout: Duration = .seconds(30),
        until accept: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var last: String?
        while ContinuousClock.now < deadline {
            last = try evaluate(expression) as? String
            if let last, accept(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "timed out waiting on \(expression); last value: \(last ?? "nil")")
    }

    private func call(_ method: String, _ parameters: [String: Any], inPage: Bool) throws -> [String: Any] {
        nextID += 1
        var message: [String: Any] = ["id": nextID, "method": method, "params": parameters]
        if inPage { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "the browser closed its command pipe") }
            written += count
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let text = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let answer = try JSONSerialization.jsonObject(with: text) as? [String: Any] else { continue }
                // Events (no id) and answers to other calls are skipped.
                guard answer["id"] as? Int == nextID else { continue }
                if let error = answer["error"] {
                    throw Failure(description: "\(method) failed: \(error)")
                }
                return answer["result"] as? [String: Any] ?? [:]
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Failure(description: "the browser did not answer \(method) in 30 s") }
            var poller = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left.components.seconds * 1000 + 1, 1000)))
            guard ready >= 0 || errno == EINTR else { throw Failure(description: "cannot poll the browser's pipe") }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { read(answers, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "the browser exited while answering \(method)") }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}
