import Foundation

/// Whether this machine has Ray for the Ray executor's tests: the `ray` command beside a Python that
/// imports `ray`, found as Kiln finds Python (`KILN_PYTHON`, `KILN_VENV`, `~/.cache/kiln/venv`). `.ci/run`
/// installs it; without it the tests that start a cluster are skipped, saying why.
package enum RayAvailability {
    /// The Python that imports ray, or nil.
    package static let python = PythonAvailability.find(importing: "ray", command: "ray", systemFallback: false)

    /// The `ray` command beside ``python``, or nil.
    package static var rayCommand: String? {
        python.map { URL(filePath: $0).deletingLastPathComponent().appending(path: "ray").path }
    }

    /// True when a loopback Ray cluster can be started here.
    package static var isAvailable: Bool { python != nil }
}
