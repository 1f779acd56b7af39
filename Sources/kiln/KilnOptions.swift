import ArgumentParser
import Foundation

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
