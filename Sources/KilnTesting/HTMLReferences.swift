import Foundation

/// What an HTML page refers to: every URL in a `src`, `srcset`, `href` (`xlink:href` too), `action`,
/// `formaction`, `poster` or `data` attribute, and in CSS `url(…)` and `@import`, wherever they are
/// (inline SVG and `style` attributes included).
///
/// For checking that a page is self-contained: a report or dashboard page that a browser opens
/// without reaching the network.
package enum HTMLReferences {
    /// Every reference in a page, in order.
    /// - Parameter html: the page.
    /// - Returns: the URLs as written (entities not decoded).
    /// - Throws: when a pattern does not compile (then no page could be checked).
    package static func all(in html: String) throws -> [String] {
        var references: [String] = []
        let range = NSRange(html.startIndex..., in: html)
        for pattern in [attribute, cssURL, cssImport] {
            let expression = try NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
            for match in expression.matches(in: html, range: range) {
                // The first group that matched is the value (double-quoted, single-quoted or bare).
                let value = (1..<match.numberOfRanges).lazy.compactMap { group in
                    Range(match.range(at: group), in: html).map { String(html[$0]) }
                }.first
                guard let value else { continue }
                let name = Range(match.range, in: html).map { html[$0].lowercased() } ?? ""
                if name.hasPrefix("srcset") {
                    // `srcset="a.png 1x, b.png 2x"`: each candidate's URL is its first word.
                    references += value.split(separator: ",").compactMap { candidate in
                        candidate.split(whereSeparator: \.isWhitespace).first.map(String.init)
                    }
                } else {
                    references.append(value)
                }
            }
        }
        return references
    }

    /// The references a browser would fetch from another host: `http:`, `https:`, `ftp:`, `ws:`,
    /// `wss:`, or scheme-relative (`//host/…`); backslashes count as slashes and leading blanks are
    /// ignored, as browsers do.
    /// - Parameter html: the page.
    /// - Returns: those references, as written.
    /// - Throws: when a pattern does not compile.
    package static func remote(in html: String) throws -> [String] {
        try all(in: html).filter(isRemote)
    }

    /// Whether one reference reaches another host.
    /// - Parameter reference: the URL as written.
    /// - Returns: true for a network scheme or a scheme-relative URL.
    package static func isRemote(_ reference: String) -> Bool {
        let url = reference.trimmingCharacters(in: .whitespacesAndNewlines.union(.controlCharacters))
            .replacingOccurrences(of: "\\", with: "/").lowercased()
        if url.hasPrefix("//") { return true }
        guard let colon = url.firstIndex(of: ":") else { return false }
        return ["http", "https", "ftp", "ws", "wss"].contains(String(url[..<colon]))
    }

    private static let value = #"\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))"#

    /// An attribute naming a URL (not `data-…`, not a name ending in one of these, such as `xsrc`).
    private static let attribute =
        #"(?<![\w:-])(?:xlink:)?(?:srcset|src|href|formaction|action|poster|data)"# + value
    /// `url(…)` in CSS, quoted or not.
    private static let cssURL = #"url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]+))\s*\)"#
    /// `@import "…"` in CSS (`@import url(…)` is found as a `url(…)`).
    private static let cssImport = #"@import\s+(?:"([^"]*)"|'([^']*)')"#
}
