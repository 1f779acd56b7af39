package import Foundation

/// Whether this machine has a Python with PyTorch and Triton for the Triton backend's tests, found as
/// Kiln finds it (`KILN_PYTHON`, `KILN_VENV`, `~/.cache/kiln/venv`, `python3`). `.ci/run` installs one;
/// without it the Triton tests are skipped, saying why.
package enum TritonAvailability {
    /// The Python that imports torch and triton, or nil.
    package static let python: String? = {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let python = environment["KILN_PYTHON"], !python.isEmpty {
            candidates = [python]
        } else if let venv = environment["KILN_VENV"], !venv.isEmpty {
            candidates = [venv + "/bin/python"]
        } else {
            let cache = environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache"
            candidates = [cache + "/kiln/venv/bin/python", "/usr/bin/python3"]
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let process = Process()
            process.executableURL = URL(filePath: candidate)
            process.arguments = ["-c", "import torch, triton, numpy"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            if process.terminationStatus == 0 { return candidate }
        }
        return nil
    }()

    /// True when the Triton backend can run here.
    package static var isAvailable: Bool { python != nil }

    /// A Triton test fixture under `Tests/Python/fixtures/`.
    /// - Parameter path: its path there, such as `hostile/hangs.py`.
    /// - Returns: its URL.
    package static func fixture(_ path: String) -> URL {
        Fixtures.root.appending(path: "Tests/Python/fixtures/\(path)")
    }
}
