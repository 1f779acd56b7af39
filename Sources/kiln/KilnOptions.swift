import ArgumentParser
import Foundation
import KilnSandbox

/// Options every command that touches the cache shares.
struct CacheOptions: ParsableArguments {
    @Option(
        name: .customLong("cache-dir"),
        help: ArgumentHelp(
            "Where builds, results and the machine profile are cached (default: $KILN_HOME/cache or .kiln/cache).",
            valueName: "dir"
        )
    )
    var cacheDirectory: String?

    var cacheURL: URL {
        if let cacheDirectory { return URL(filePath: cacheDirectory) }
        if let home = ProcessInfo.processInfo.environment["KILN_HOME"], !home.isEmpty {
            return URL(filePath: home).appending(path: "cache")
        }
        return URL(filePath: FileManager.default.currentDirectoryPath).appending(path: ".kiln/cache")
    }
}

/// The one way out of Kiln's sandbox, for machines where namespaces cannot be made.
struct SandboxOptions: ParsableArguments {
    @Flag(
        name: .customLong("unsafe-no-sandbox"),
        help: """
            Run candidates without Kiln's sandbox (no user, PID, mount, IPC or network namespaces; limits \
            and the system-call allowlist only). Only for a machine where namespaces cannot be made and code \
            you trust: every result and report of such a run says it was unsandboxed.
            """
    )
    var unsafeNoSandbox = false

    var mode: Sandbox.Mode { unsafeNoSandbox ? .unsafeNone : .isolated }
}
