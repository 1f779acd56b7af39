/// What `write_file` tells the model, and all the conversation keeps of a written file: its path, its
/// size, and a short diff against the version it replaced. The content itself is dropped from the
/// conversation once written (``AgentState`` folds the call's `content` argument into a note), so a
/// 30 KB candidate costs its diff, not its body, on every later request.
package enum WriteSummary {
    /// The most diff lines shown.
    package static let diffLineLimit = 40
    /// The most characters of one diff line shown.
    package static let diffLineWidth = 160

    /// The tool result of a write.
    /// - Parameters:
    ///   - path: the file, as the model named it.
    ///   - old: the file's text before the write, or nil when it did not exist.
    ///   - new: the text written.
    /// - Returns: the summary.
    package static func describe(path: String, old: String?, new: String) -> String {
        let newLines = FileView.lines(of: new)
        let size = "\(new.isEmpty ? 0 : newLines.count) lines, \(new.utf8.count) bytes"
        let kept =
            "The conversation keeps this summary, not the content you sent: read_file shows the file; "
            + "edit_file changes part of a file without sending all of it again."
        guard let old else { return "wrote \(path): a new file, \(size).\n\(kept)" }
        if old == new { return "wrote \(path): unchanged (\(size)).\n\(kept)" }
        let oldLines = FileView.lines(of: old)
        let hunks = diff(old: oldLines, new: newLines)
        let added = hunks.reduce(0) { $0 + $1.lines.count { $0.hasPrefix("+") } }
        let removed = hunks.reduce(0) { $0 + $1.lines.count { $0.hasPrefix("-") } }
        var out = [
            "wrote \(path): \(size) (before: \(old.isEmpty ? 0 : oldLines.count) lines, \(old.utf8.count) bytes); "
                + "+\(added) -\(removed) lines against the previous version:"
        ]
        var shown = 0
        var hidden = 0
        for hunk in hunks {
            let body = [hunk.header] + hunk.lines
            if shown + body.count <= diffLineLimit {
                out += body.map { String($0.prefix(diffLineWidth)) }
                shown += body.count
            } else {
                hidden += hunk.lines.count { !$0.hasPrefix(" ") }
            }
        }
        if hidden > 0 { out.append("… \(hidden) more changed lines not shown (read_file shows the file)") }
        let changed = added + removed
        if changed * 5 < max(oldLines.count, newLines.count) {
            out.append(
                "Only \(changed) of \(newLines.count) lines changed: edit_file would have sent just those lines."
            )
        }
        out.append(kept)
        return out.joined(separator: "\n")
    }

    /// One hunk of a unified diff: its `@@` header and its lines (` ` context, `-` removed, `+` added).
    struct Hunk {
        var header: String
        var lines: [String]
    }

    /// One line of an edit script: kept, removed or added, with its 1-based numbers in the old and new text.
    private struct Step {
        var kind: Character
        var text: Substring
        var old: Int
        var new: Int
    }

    /// A line diff with one line of context: common leading and trailing lines are set aside first (a
    /// candidate's edits are usually local), then the middle is diffed by longest common subsequence,
    /// or replaced whole when it is too large for that.
    static func diff(old: [Substring], new: [Substring]) -> [Hunk] {
        var prefix = 0
        while prefix < old.count, prefix < new.count, old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix, suffix < new.count - prefix,
            old[old.count - 1 - suffix] == new[new.count - 1 - suffix]
        {
            suffix += 1
        }
        let a = Array(old[prefix..<(old.count - suffix)])
        let b = Array(new[prefix..<(new.count - suffix)])
        var steps = (0..<prefix).map { Step(kind: " ", text: old[$0], old: $0 + 1, new: $0 + 1) }
        var i = 0
        var j = 0
        func keep() {
            steps.append(Step(kind: " ", text: a[i], old: prefix + i + 1, new: prefix + j + 1))
            i += 1
            j += 1
        }
        func add() {
            steps.append(Step(kind: "+", text: b[j], old: prefix + i, new: prefix + j + 1))
            j += 1
        }
        func remove() {
            steps.append(Step(kind: "-", text: a[i], old: prefix + i + 1, new: prefix + j))
            i += 1
        }
        if a.count * b.count <= 1_000_000 {
            var table = [[Int32]](repeating: [Int32](repeating: 0, count: b.count + 1), count: a.count + 1)
            for x in stride(from: a.count - 1, through: 0, by: -1) {
                for y in stride(from: b.count - 1, through: 0, by: -1) {
                    table[x][y] = a[x] == b[y] ? table[x + 1][y + 1] + 1 : max(table[x + 1][y], table[x][y + 1])
                }
            }
            while i < a.count || j < b.count {
                if i < a.count, j < b.count, a[i] == b[j] {
                    keep()
                } else if j < b.count, i == a.count || table[i][j + 1] >= table[i + 1][j] {
                    add()
                } else {
                    remove()
                }
            }
        } else {
            while i < a.count { remove() }
            while j < b.count { add() }
        }
        for k in 0..<suffix {
            let o = old.count - suffix + k
            steps.append(Step(kind: " ", text: old[o], old: o + 1, new: new.count - suffix + k + 1))
        }
        // Changes closer than three lines share a hunk; each hunk has one line of context around it.
        var hunks: [Hunk] = []
        var index = 0
        while let change = steps[index...].firstIndex(where: { $0.kind != " " }) {
            var end = change
            while let next = steps[(end + 1)...].firstIndex(where: { $0.kind != " " }), next - end <= 3 { end = next }
            let range = max(change - 1, 0)...min(end + 1, steps.count - 1)
            let part = steps[range]
            let olds = part.filter { $0.kind != "+" }
            let news = part.filter { $0.kind != "-" }
            let oldFrom = olds.first?.old ?? part.first?.old ?? 0
            let newFrom = news.first?.new ?? part.first?.new ?? 0
            hunks.append(
                Hunk(
                    header: "@@ -\(oldFrom),\(olds.count) +\(newFrom),\(news.count) @@",
                    lines: part.map { "\($0.kind)\($0.text)" }
                )
            )
            index = range.upperBound + 1
            if index >= steps.count { break }
        }
        return hunks
    }
}

/// The rule that keeps written file bodies out of the conversation: once a `write_file` call has its
/// result, its `content` argument is replaced, in the conversation sent back to the model, by a note of
/// its size (the tool's result holds the path, size and diff). The journal keeps the answer as the
/// model gave it, so a resumed run can still re-run a call that had no result.
package enum WrittenContent {
    /// The tools whose `content` argument is elided once answered.
    package static let tools: Set<String> = ["write_file"]

    /// Whether a tool's answered calls lose their `content` argument.
    /// - Parameter tool: the tool's name.
    /// - Returns: true for `write_file`.
    package static func isElided(in tool: String) -> Bool { tools.contains(tool) }

    /// A call's arguments with the `content` string replaced by a note; other arguments, and arguments
    /// that are not a JSON object with a string `content`, are kept as they were.
    /// - Parameter arguments: the arguments' JSON text.
    /// - Returns: the arguments to keep in the conversation.
    package static func elided(_ arguments: String) -> String {
        guard case .object(var object)? = JSONValue.parse(arguments), let content = object["content"]?.string,
            !content.hasPrefix(notePrefix)
        else { return arguments }
        object["content"] = .string(
            "\(notePrefix)\(content.utf8.count) bytes written; not kept in the conversation: the tool result says what changed, read_file shows the file]"
        )
        return JSONValue.object(object).text
    }

    private static let notePrefix = "[kiln: "
}
