import Foundation

/// Whether this machine has Ray for the Ray executor's tests: the `ray` command beside a Python that
/// imports `ray`, found as Kiln finds Python (`KILN_PYTHON`, `KILN_VENV`, `~/.cache/kiln/venv`). `.ci/run`
/// installs it; without it the tests that start a cluster are skipped, saying why.
package enum RayAvailability {
    /// The Python that imports ray, or nil.
    package static let python: String? = {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let python = environment["KILN_PYTHON"], !python.isEmpty {
            candidates = [python]
        } else if let venv = environment["KILN_VENV"], !venv.isEmpty {
            candidates = [venv + "/bin/python"]
        } else {
            let cache = environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache"
            candidates = [cache + "/kiln/venv/bin/python"]
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let ray = URL(filePath: candidate).deletingLastPathComponent().appending(path: "ray").path
            guard FileManager.default.isExecutableFile(atPath: ray) else { continue }
            let process = Process()
            process.executableURL = URL(filePath: candidate)
            process.arguments = ["-c", "import ray"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            if process.terminationStatus == 0 { return candidate }
        }
        return nil
    }()

    /// The `ray` command beside ``python``, or nil.
    package static var rayCommand: String? {
        python.map { URL(filePath: $0).deletingLastPathComponent().appending(path: "ray").path }
    }

    /// True when a loopback Ray cluster can be started here.
    package static var isAvailable: Bool { python != nil }
}
