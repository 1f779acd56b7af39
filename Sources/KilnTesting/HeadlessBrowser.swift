package import Foundation
import Subprocess
import SystemPackage

/// Headless Chromium (Debian's `chromium-headless-shell` or `chromium`), for tests that look at pages
/// the way a person's browser does.
package enum HeadlessBrowser {
    /// The browser's executable, when one is installed.
    package static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium-headless-shell", "chromium", "chromium-browser"] {
            for folder in path.split(separator: ":") {
                let candidate = "\(folder)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }()

    /// Loads a page and returns its DOM after scripts ran, and writes a screenshot.
    /// - Parameters:
    ///   - url: the page.
    ///   - screenshot: where to write a PNG, if anywhere.
    /// - Returns: the serialised DOM.
    /// - Throws: when no browser is installed or it fails.
    package static func render(_ url: URL, screenshot: URL? = nil) async throws -> String {
        guard let executable else { throw CocoaError(.fileNoSuchFile) }
        let common = ["--no-sandbox", "--disable-gpu", "--headless", "--hide-scrollbars", "--window-size=1000,2200"]
        if let screenshot {
            _ = try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: Arguments(common + ["--screenshot=\(screenshot.path)", url.absoluteString]),
                output: .discarded,
                error: .discarded
            )
        }
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(common + ["--dump-dom", url.absoluteString]),
            output: .string(limit: 16 << 20),
            error: .discarded
        )
        return result.standardOutput
    }
}
