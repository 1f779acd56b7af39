import Foundation

/// The C sources the harness ships: the monitor, the worker's runner, their shared arena, the task
/// interface and the probe.
enum HarnessResources {
    /// The folder holding `kiln_monitor.c`, `kiln_runner.c`, `kiln_arena.h`, `kiln_task.h` and `kiln_probe.c`.
    static func directory() throws(HarnessError) -> URL {
        guard let url = Bundle.module.url(forResource: "c", withExtension: nil) else {
            throw HarnessError(
                .internal,
                "Kiln's C resources are missing next to the executable; rebuild Kiln with 'swift build'"
            )
        }
        return url
    }

    /// The contents of one shipped file, for hashing.
    static func contents(of name: String) throws(HarnessError) -> Data {
        let url = try directory().appending(path: name)
        do {
            return try Data(contentsOf: url)
        } catch {
            throw HarnessError(.internal, "cannot read Kiln's resource \(name)", underlying: error)
        }
    }
}
