import Crypto
import Foundation
import Synchronization

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

    private static let fingerprintCache = Mutex<String?>(nil)

    /// A hash of every file Kiln's harness runs (the C monitor, runner and probe, the Python driver and its
    /// modules, the sandbox launcher) and of the running executable's identity (its size and modification
    /// time): results measured by another harness or another build of Kiln are not reused.
    static func fingerprint() throws(HarnessError) -> String {
        if let known = fingerprintCache.withLock({ $0 }) { return known }
        var hasher = SHA256()
        let files = FileManager.default
        for folder in [try directory(), try TritonBackend.driverFolder()] {
            let names = ((try? files.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
            for name in names {
                guard let data = try? Data(contentsOf: folder.appending(path: name)) else { continue }
                hasher.update(data: Data(name.utf8))
                hasher.update(data: data)
            }
        }
        hasher.update(data: Data(try sandboxSourceHash().utf8))
        if let attributes = try? files.attributesOfItem(atPath: "/proc/self/exe".resolvingSymlinks) {
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            hasher.update(data: Data("\(size) \(modified)".utf8))
        }
        let value = hex(hasher.finalize())
        fingerprintCache.withLock { $0 = value }
        return value
    }
}

extension String {
    fileprivate var resolvingSymlinks: String { URL(filePath: self).resolvingSymlinksInPath().path }
}
