package import Foundation
import KilnHarness
package import KilnSandbox
package import KilnTask

/// Paths to the repository's bundled tasks and test fixtures, and shared scratch space for tests.
package enum Fixtures {
    /// The repository's root folder.
    package static let root: URL = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The runs in a runs folder, oldest first: folders holding a journal, as `kiln runs` counts them
    /// (a run killed before its journal was in place leaves an empty folder, which is no run).
    /// Empty while the folder does not exist.
    package static func runIDs(in runs: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []
        return names.sorted().filter {
            FileManager.default.fileExists(atPath: runs.appending(path: "\($0)/journal.sqlite").path)
        }
    }

    /// A bundled task folder, such as `extend-attention`.
    /// - Parameter name: the folder's name under `tasks/`.
    /// - Returns: its URL.
    package static func taskFolder(_ name: String) -> URL {
        root.appending(path: "tasks/\(name)")
    }

    /// A bundled task, loaded.
    /// - Parameter name: the folder's name under `tasks/`.
    /// - Returns: the task.
    /// - Throws: ``TaskError`` if the bundled task is broken.
    package static func task(_ name: String) throws -> KernelTask {
        try KernelTask.load(from: taskFolder(name))
    }

    /// A fixture file under `Tests/Fixtures/`.
    /// - Parameter path: its path below `Tests/Fixtures/`, such as `hostile/segfault.c`.
    /// - Returns: its URL.
    package static func file(_ path: String) -> URL {
        root.appending(path: "Tests/Fixtures/\(path)")
    }

    /// A fixture file's contents.
    /// - Parameter path: its path below `Tests/Fixtures/`.
    /// - Returns: the text.
    /// - Throws: when it cannot be read.
    package static func source(_ path: String) throws -> String {
        try String(contentsOf: file(path), encoding: .utf8)
    }

    /// One cache folder shared by every test in this process, so the machine is probed and each task's
    /// trusted workers are built once.
    package static let sharedCache: URL = {
        let url = FileManager.default.temporaryDirectory.appending(path: "kiln-tests-\(getpid())/cache")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// The built `kiln` executable, next to the test bundle.
    package static var kilnExecutable: URL {
        let beside = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: "kiln")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return root.appending(path: ".build/debug/kiln")
    }
}

/// Runs `body` with a fresh temporary folder, removed afterwards.
/// - Parameter body: the work.
/// - Returns: what `body` returns.
/// - Throws: what `body` throws.
package func withTemporaryDirectory<R>(_ body: (URL) async throws -> R) async throws -> R {
    let url = FileManager.default.temporaryDirectory.appending(path: "kiln-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

extension Fixtures {
    /// A new, empty cache folder inside `folder` that already holds this machine's profile, so a
    /// `kiln` started on it does real evaluations without first probing the machine.
    /// - Parameter folder: where to make it.
    /// - Returns: the cache folder.
    /// - Throws: when the machine cannot be probed or the folder written.
    package static func freshCache(in folder: URL) async throws -> URL {
        let cache = folder.appending(path: "cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        _ = try await MachineProbe(cacheDirectory: sharedCache).profile()
        for file in ["probe.json", "cache.key"] {
            try FileManager.default.copyItem(at: sharedCache.appending(path: file), to: cache.appending(path: file))
        }
        return cache
    }
}

extension Fixtures {
    /// Kiln's sandbox, its launcher built in the shared cache.
    /// - Parameter mode: how untrusted programs run.
    /// - Returns: the sandbox.
    /// - Throws: when the launcher cannot be built.
    package static func sandbox(_ mode: Sandbox.Mode = .isolated) async throws -> Sandbox {
        try await Sandbox.prepare(cacheDirectory: sharedCache, mode: mode)
    }
}
