import Foundation

/// Which compiler flags a task or a candidate may ask for.
///
/// Candidates are written by a model and are hostile until proven otherwise: a flag such as
/// `-fplugin=` or `-Wl,--wrap=` would run code or rewire the link outside the sandbox, so only flags
/// that change code generation are allowed.
package enum FlagPolicy {
    private static let allowedPrefixes = [
        "-O", "-march=", "-mtune=", "-mcpu=", "-std=", "-ffp-contract=", "-g", "-D", "-U", "--param=",
    ]
    private static let forbiddenFPrefixes = [
        "-fplugin", "-fprofile", "-fdump", "-fauto-profile", "-fdebug-prefix-map", "-ffile-prefix-map",
        "-fmacro-prefix-map", "-fcallgraph-info", "-fstack-usage", "-frecord", "-fcompare-debug", "-fopt-info",
        "-fsave-optimization-record", "-finstrument", "-fsanitize", "-fcoverage", "-ftest-coverage",
    ]

    /// Explains why a list of flags is not allowed, or returns nil when every flag is.
    /// - Parameter flags: compiler flags, one per element.
    /// - Returns: a message naming the first forbidden flag, or nil.
    package static func problem(with flags: [String]) -> String? {
        for flag in flags where !isAllowed(flag) {
            return
                "flag '\(flag)' is not allowed (only optimisation, target, -f code-generation, -D/-U and -std flags are)"
        }
        return nil
    }

    private static func isAllowed(_ flag: String) -> Bool {
        guard flag.hasPrefix("-"), !flag.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" }) else {
            return false
        }
        if allowedPrefixes.contains(where: flag.hasPrefix) { return true }
        if flag.hasPrefix("-f") { return !forbiddenFPrefixes.contains(where: flag.hasPrefix) }
        if flag.hasPrefix("-m") { return !flag.contains("=") || flag.hasPrefix("-mprefer-vector-width=") }
        if flag.hasPrefix("-W") { return !flag.hasPrefix("-Wl,") && !flag.hasPrefix("-Wa,") && !flag.hasPrefix("-Wp,") }
        return false
    }
}
