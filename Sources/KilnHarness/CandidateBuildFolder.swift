import Foundation
import KilnSandbox
import KilnTask

/// The folder a candidate is built in, and what of it the compiler's sandbox sees: the candidate's
/// source, the task's header and `kiln_task.h` (nothing else of the task folder), Kiln's two link
/// inputs, and the one writable folder the object and the worker go to.
struct CandidateBuildFolder {
    let scratch: URL
    /// False without a sandbox (`--unsafe-no-sandbox`): the compiler then sees the host's paths.
    let isolated: Bool
    var sourceFolder: URL { scratch.appending(path: "src") }
    var includeFolder: URL { scratch.appending(path: "include") }
    var linkFolder: URL { scratch.appending(path: "link") }
    var output: URL { scratch.appending(path: "out") }
    var object: URL { output.appending(path: "candidate.o") }

    /// Where the compiler sees each part.
    var sourceInside: String { isolated ? "/kiln/src/candidate.c" : sourceFolder.appending(path: "candidate.c").path }
    var includeInside: String { isolated ? "/kiln/include" : includeFolder.path }
    var linkInside: String { isolated ? "/kiln/link" : linkFolder.path }
    var outputInside: String { isolated ? "/kiln/out" : output.path }
    var objectInside: String { "\(outputInside)/candidate.o" }

    init(scratch: URL, isolated: Bool, task: KernelTask, source: String, common: Builder.Common) throws(HarnessError) {
        self.scratch = scratch
        self.isolated = isolated
        let files = FileManager.default
        do {
            for folder in [sourceFolder, includeFolder, linkFolder, output] {
                try files.createDirectory(at: folder, withIntermediateDirectories: true)
            }
            try Data(source.utf8).write(to: sourceFolder.appending(path: "candidate.c"))
            let header = includeFolder.appending(path: task.header)
            try files.createDirectory(at: header.deletingLastPathComponent(), withIntermediateDirectories: true)
            try files.copyItem(at: task.url(of: task.header), to: header)
            try files.copyItem(
                at: try HarnessResources.directory().appending(path: "kiln_task.h"),
                to: includeFolder.appending(path: "kiln_task.h")
            )
            try files.copyItem(at: common.runner, to: linkFolder.appending(path: "runner.o"))
            try files.copyItem(at: common.instance, to: linkFolder.appending(path: "instance.o"))
        } catch let error as HarnessError {
            throw error
        } catch {
            throw HarnessError(.io, "cannot prepare the candidate's build folder in \(scratch.path)", underlying: error)
        }
    }

    /// The compiler's sandbox.
    func jail(compiler: CompilerLocation) -> Jail {
        var jail = Jail(
            mounts: [
                .system, .devNull, .tmpfs(at: "/tmp", megabytes: 512),
                .readOnly(sourceFolder, at: "/kiln/src"), .readOnly(includeFolder, at: includeInside),
                .readOnly(linkFolder, at: linkInside), .writable(output, at: outputInside),
            ] + compiler.mounts,
            workingDirectory: outputInside,
            environment: ["PATH": compiler.searchPath, "LC_ALL": "C", "TMPDIR": "/tmp"]
        )
        jail.memoryMB = 4096
        jail.cpuSeconds = 180
        jail.fileMB = 512
        return jail
    }
}

/// Where the task's compiler lives, and what the compiler's sandbox must show of it beyond `/usr`.
struct CompilerLocation {
    /// What to run inside the sandbox.
    var command: String
    /// Extra read-only mounts for a compiler installed outside `/usr`.
    var mounts: [Jail.Mount]
    /// The sandbox's `PATH`.
    var searchPath: String

    static let hostPath = ["/usr/local/bin", "/usr/bin", "/bin"]

    static func find(_ name: String) throws(HarnessError) -> CompilerLocation {
        let defaultPath = "/usr/local/bin:/usr/bin:/bin"
        let candidates = name.contains("/") ? [name] : hostPath.map { "\($0)/\(name)" }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw HarnessError(
                .toolMissing,
                "the C compiler '\(name)' is not in \(defaultPath); install it (e.g. apt-get install gcc) or name it by its full path in task.toml"
            )
        }
        let real = URL(filePath: found).resolvingSymlinksInPath()
        if real.path.hasPrefix("/usr/") { return CompilerLocation(command: name, mounts: [], searchPath: defaultPath) }
        // A toolchain outside /usr (say /opt/gcc-14/bin/gcc): show its whole prefix, read-only, where it is.
        let prefix = real.deletingLastPathComponent().deletingLastPathComponent()
        return CompilerLocation(
            command: real.path,
            mounts: [.readOnly(prefix, at: prefix.path)],
            searchPath: "\(real.deletingLastPathComponent().path):\(defaultPath)"
        )
    }
}

/// Refuses includes by absolute path or through `..`: a candidate sees the system's headers, the task's
/// header and `kiln_task.h`, nothing else (the sandbox enforces it; this says so before compiling).
enum IncludeCheck {
    static func problem(in source: String, file: String) -> String? {
        for (index, line) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            for path in includedPaths(String(line)) where isForbidden(path) {
                return
                    "\(file):\(index + 1): the include \"\(path)\" names a file by an absolute path or through '..'; a candidate may include the system's headers, the task's header and kiln_task.h only"
            }
        }
        return nil
    }

    private static func isForbidden(_ path: String) -> Bool {
        path.hasPrefix("/") || path.hasPrefix("~") || path.split(separator: "/").contains("..")
    }

    /// Paths named by `#include`, `#include_next`, `#import`, `__has_include` or `.incbin` on one line.
    private static func includedPaths(_ line: String) -> [String] {
        var paths: [String] = []
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        if trimmed.hasPrefix("#") {
            let directive = trimmed.dropFirst().drop { $0 == " " || $0 == "\t" }
            for word in ["include_next", "include", "import"] where directive.hasPrefix(word) {
                if let path = quoted(directive.dropFirst(word.count)) { paths.append(path) }
                break
            }
        }
        for marker in ["__has_include_next", "__has_include", ".incbin"] {
            var rest = Substring(line)
            while let range = rest.range(of: marker) {
                rest = rest[range.upperBound...]
                if let path = quoted(rest.drop { $0 == "(" || $0 == " " || $0 == "\t" || $0 == "\\" }) {
                    paths.append(path)
                }
            }
        }
        return paths
    }

    /// The text inside the first `"…"` or `<…>` at the start of `text` (after blanks).
    private static func quoted(_ text: Substring) -> String? {
        let rest = text.drop { $0 == " " || $0 == "\t" || $0 == "\\" }
        guard let open = rest.first, open == "\"" || open == "<" else { return nil }
        let close: Character = open == "<" ? ">" : "\""
        let body = rest.dropFirst().prefix { $0 != close && $0 != "\\" }
        return String(body)
    }
}
