/// A small unified line diff (longest common subsequence), for showing a candidate against its parent.
enum LineDiff {
    static func unified(old: String, new: String, limit: Int = 4000) -> String {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false)
        guard a.count * b.count <= 4_000_000 else { return "(files too large to diff)" }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var lines: [String] = []
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                lines.append("  " + a[i])
                i += 1
                j += 1
            } else if j < b.count, i == a.count || table[i][j + 1] >= table[i + 1][j] {
                lines.append("+ " + b[j])
                j += 1
            } else {
                lines.append("- " + a[i])
                i += 1
            }
        }
        if lines.allSatisfy({ $0.hasPrefix("  ") }) { return "(the same source as its parent)" }
        return lines.prefix(limit).joined(separator: "\n")
    }
}
