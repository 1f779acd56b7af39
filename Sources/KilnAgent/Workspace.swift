package import Foundation

/// A run's workspace folder, where the model's files live. Paths the model gives are relative to it
/// and may not leave it: absolute paths, `..` and symbolic links are refused.
package struct Workspace: Sendable {
    /// The folder.
    package var root: URL

    /// Creates a workspace over a folder (which must exist).
    /// - Parameter root: the folder.
    package init(root: URL) {
        self.root = root.standardizedFileURL.resolvingSymlinksInPath()
    }

    /// A failure of a file operation, in words for the model.
    package struct Failure: Error, Sendable {
        /// What went wrong and what to do.
        package var message: String
    }

    /// Resolves a path the model gave to a file inside the workspace.
    /// - Parameter path: a relative path.
    /// - Returns: its URL.
    /// - Throws: ``Failure`` for paths that would leave the workspace.
    package func resolve(_ path: String) throws(Failure) -> URL {
        let trimmed = path.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("/") || trimmed.hasPrefix("~") {
            throw Failure(message: "'\(path)' is absolute; give a path relative to the workspace")
        }
        let parts = trimmed.split(separator: "/").filter { $0 != "." }
        if parts.contains("..") { throw Failure(message: "'\(path)' uses '..'; paths may not leave the workspace") }
        var url = root
        for part in parts {
            url = url.appending(path: String(part))
            if let kind = try? FileManager.default.attributesOfItem(atPath: url.path)[.type] as? FileAttributeType,
                kind == .typeSymbolicLink
            {
                throw Failure(
                    message: "'\(path)' goes through a symbolic link; links are not followed in the workspace"
                )
            }
        }
        return url
    }

    /// Lists a folder of the workspace.
    /// - Parameter path: the folder, relative; empty for the root.
    /// - Returns: one line per entry, folders with a trailing slash, files with their size.
    /// - Throws: ``Failure``.
    package func list(_ path: String) throws(Failure) -> String {
        let url = try resolve(path)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else {
            throw Failure(message: "'\(path)' is not a folder of the workspace")
        }
        let lines = names.sorted().map { name -> String in
            let item = url.appending(path: name)
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: item.path, isDirectory: &isFolder)
            if isFolder.boolValue { return name + "/" }
            let size = (try? FileManager.default.attributesOfItem(atPath: item.path)[.size] as? Int) ?? 0
            return "\(name)  (\(size) bytes)"
        }
        return lines.isEmpty ? "(empty)" : lines.joined(separator: "\n")
    }

    /// Reads a text file, optionally a range of lines.
    /// - Parameters:
    ///   - path: the file.
    ///   - offset: the first line (1-based).
    ///   - limit: the most lines.
    /// - Returns: the text, with line numbers when a range was asked.
    /// - Throws: ``Failure``.
    package func read(_ path: String, offset: Int? = nil, limit: Int? = nil) throws(Failure) -> String {
        let url = try resolve(path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw Failure(message: "cannot read '\(path)': no such text file in the workspace; use list_files")
        }
        guard offset != nil || limit != nil else { return text }
        return FileView.render(text, path: path, offset: offset, limit: limit, characterLimit: .max)
    }

    /// Writes a text file, creating folders as needed.
    /// - Parameters:
    ///   - path: the file.
    ///   - content: its new content.
    /// - Throws: ``Failure``.
    package func write(_ path: String, content: String) throws(Failure) {
        let url = try resolve(path)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(content.utf8).write(to: url, options: .atomic)
        } catch {
            throw Failure(message: "cannot write '\(path)': \(error.localizedDescription)")
        }
    }

    /// Replaces one exact occurrence of `old` with `new` in a file.
    /// - Parameters:
    ///   - path: the file.
    ///   - old: text that occurs exactly once.
    ///   - new: its replacement.
    /// - Returns: the line (1-based) where the replaced text began.
    /// - Throws: ``Failure`` when the text occurs zero or several times.
    @discardableResult
    package func edit(_ path: String, old: String, new: String) throws(Failure) -> Int {
        let text = try read(path)
        guard !old.isEmpty else { throw Failure(message: "old_text is empty; give the exact text to replace") }
        let count = text.components(separatedBy: old).count - 1
        if count == 0 {
            throw Failure(
                message:
                    "old_text was not found in '\(path)'; read the file again and copy the text exactly (whitespace included)"
            )
        }
        if count > 1 {
            throw Failure(
                message: "old_text occurs \(count) times in '\(path)'; include more surrounding lines so it is unique"
            )
        }
        let line = text.range(of: old).map { text[..<$0.lowerBound].count { $0 == "\n" } + 1 } ?? 1
        try write(path, content: text.replacingOccurrences(of: old, with: new))
        return line
    }
}
