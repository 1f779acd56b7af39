/// What `read_file` shows of a text file: whole lines only, within a character cap, and, when lines
/// are left out, exactly which ones and the call that reads them. Nothing is hidden silently: a cut
/// never falls inside a line (unless a single line is longer than the cap, which is then said), and
/// the note counts lines, as `offset` and `limit` do.
package enum FileView {
    /// The most characters one `read_file` returns.
    package static let characterLimit = 12_000

    /// Renders a file, or a range of its lines, for the model.
    /// - Parameters:
    ///   - text: the file's text.
    ///   - path: the file's path, as the model named it (for the note on what to read next).
    ///   - offset: the first line asked for (1-based), if any.
    ///   - limit: the most lines asked for, if any.
    ///   - characterLimit: the most characters of file text to show.
    /// - Returns: the whole file verbatim when no range was asked and it fits; otherwise numbered lines
    ///   (`N: text`), and, when the cap left some of the asked lines out, a first line saying what is
    ///   shown and a last line naming the lines not shown and the `read_file` call that shows them (or,
    ///   after a range shown whole that ends before the file does, the lines that follow and that call).
    package static func render(
        _ text: String,
        path: String,
        offset: Int? = nil,
        limit: Int? = nil,
        characterLimit: Int = Self.characterLimit
    ) -> String {
        if offset == nil, limit == nil, text.count <= characterLimit { return text }
        let lines = Self.lines(of: text)
        let first = max(offset ?? 1, 1)
        let last = min(first + max(limit ?? lines.count, 0) - 1, lines.count)
        guard first <= last else { return "(no lines in that range; the file has \(lines.count) lines)" }
        let shown = fitting(lines, from: first, through: last, characterLimit: characterLimit)
        var out: [String] = []
        let isCut = shown.last < last || shown.cutLine != nil
        if isCut {
            out.append(
                "[\(path): \(lines.count) lines, \(text.count) characters; lines \(first)-\(shown.last) shown, numbered "
                    + "(read_file returns at most \(characterLimit) characters)]"
            )
        }
        for number in first...shown.last {
            let line = lines[number - 1]
            if number == shown.last, let kept = shown.cutLine {
                out.append("\(number): \(line.prefix(kept))")
                out.append(
                    "[line \(number) is \(line.count) characters long; only its first \(kept) are shown: "
                        + "shell with `sed -n \(number)p \(path) | cut -c\(kept + 1)-` shows the rest]"
                )
            } else {
                out.append("\(number): \(line)")
            }
        }
        // Lines the cap left out of the range asked, or, after a range shown whole, the rest of the file.
        let (next, end, verb) =
            shown.last < last ? (shown.last + 1, last, "not shown") : (last + 1, lines.count, "follow")
        if next <= end {
            let page = fitting(lines, from: next, through: end, characterLimit: characterLimit)
            let count = page.last - next + 1
            out.append(
                "[lines \(next)-\(end) of \(lines.count) \(verb); read_file with offset=\(next) limit=\(count) "
                    + "shows the next \(count == 1 ? "line" : "\(count) lines")]"
            )
        }
        return out.joined(separator: "\n")
    }

    /// A text's lines; a final newline ends the last line rather than starting an empty one.
    /// - Parameter text: the text.
    /// - Returns: its lines, without their newlines.
    package static func lines(of text: String) -> [Substring] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// The last line, from `first`, whose numbered form still fits in the cap (at least `first`
    /// itself), and how many characters of it fit when that one line alone is too long.
    private static func fitting(
        _ lines: [Substring],
        from first: Int,
        through last: Int,
        characterLimit: Int
    ) -> (last: Int, cutLine: Int?) {
        var used = 0
        var end = first - 1
        for number in first...last {
            let cost = "\(number): ".count + lines[number - 1].count + 1
            if used + cost > characterLimit { break }
            used += cost
            end = number
        }
        guard end < first else { return (end, nil) }
        // Not even the first line fits: show the part of it that does.
        return (first, max(characterLimit - "\(first): ".count, 1))
    }
}
