/// Trims compiler output to what a person (or a model) needs first.
enum BuildLog {
    /// The first error lines of a compiler's output with a little context, at most `limit` lines.
    static func firstErrors(_ log: String, limit: Int = 12) -> String {
        let lines = log.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let first = lines.firstIndex(where: { $0.contains("error") }) else {
            return lines.prefix(limit).joined(separator: "\n")
        }
        let slice = lines[first...].prefix(limit)
        let more = lines.count - first - slice.count
        return slice.joined(separator: "\n") + (more > 0 ? "\n… (\(more) more lines)" : "")
    }
}
