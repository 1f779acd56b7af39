package import Foundation

/// Whether this machine has a Python with PyTorch and Triton for the Triton backend's tests, found as
/// Kiln finds it (`KILN_PYTHON`, `KILN_VENV`, `~/.cache/kiln/venv`, `python3`). `.ci/run` installs one;
/// without it the Triton tests are skipped, saying why.
package enum TritonAvailability {
    /// The Python that imports torch and triton, or nil.
    package static let python = PythonAvailability.find(importing: "torch, triton, numpy", systemFallback: true)

    /// True when the Triton backend can run here.
    package static var isAvailable: Bool { python != nil }

    /// A Triton test fixture under `Tests/Python/fixtures/`.
    /// - Parameter path: its path there, such as `hostile/hangs.py`.
    /// - Returns: its URL.
    package static func fixture(_ path: String) -> URL {
        Fixtures.root.appending(path: "Tests/Python/fixtures/\(path)")
    }
}
