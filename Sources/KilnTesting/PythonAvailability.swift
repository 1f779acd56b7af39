import Foundation

/// The Python a group of tests needs, found as Kiln finds Python (`KILN_PYTHON`, `KILN_VENV`,
/// `~/.cache/kiln/venv`, then optionally the system's `python3`): the first that imports the modules and,
/// when asked, has a command beside it. It answers once, synchronously, for `.enabled(if:)` traits, so it
/// uses Foundation's `Process` where Kiln itself uses swift-subprocess.
enum PythonAvailability {
    /// The Python that imports `modules`, or nil.
    /// - Parameters:
    ///   - modules: what it must import, as in an import statement (`torch, triton`).
    ///   - command: a program it must have beside it (`ray`), or nil.
    ///   - systemFallback: whether the system's `python3` is tried after the venv.
    /// - Returns: its path.
    static func find(importing modules: String, command: String? = nil, systemFallback: Bool) -> String? {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let python = environment["KILN_PYTHON"], !python.isEmpty {
            candidates = [python]
        } else if let venv = environment["KILN_VENV"], !venv.isEmpty {
            candidates = [venv + "/bin/python"]
        } else {
            let cache = environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache"
            candidates = [cache + "/kiln/venv/bin/python"] + (systemFallback ? ["/usr/bin/python3"] : [])
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            if let command {
                let sibling = URL(filePath: candidate).deletingLastPathComponent().appending(path: command).path
                guard FileManager.default.isExecutableFile(atPath: sibling) else { continue }
            }
            let process = Process()
            process.executableURL = URL(filePath: candidate)
            process.arguments = ["-c", "import \(modules)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            if process.terminationStatus == 0 { return candidate }
        }
        return nil
    }
}
