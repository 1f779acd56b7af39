import Foundation
package import KilnSandbox
import Subprocess

/// The workspace tools every agent run has: files, a shell, and notes that survive compaction.
package struct StandardTools: Sendable {
    /// The run's workspace.
    package var workspace: Workspace
    /// The sandbox the shell runs in.
    package var sandbox: Sandbox
    /// The notes file inside it.
    package static let notesFile = "NOTES.md"
    /// Where the shell sees the workspace.
    package static let shellWorkspace = "/workspace"

    /// Creates the tools over a workspace.
    /// - Parameters:
    ///   - workspace: the workspace.
    ///   - sandbox: the sandbox the shell runs in.
    package init(workspace: Workspace, sandbox: Sandbox) {
        self.workspace = workspace
        self.sandbox = sandbox
    }

    /// The tools: list, read, write and edit files, a shell, notes.
    package var tools: [Tool] {
        let me = self
        func tool(_ name: String, _ description: String, _ parameters: JSONValue) -> Tool {
            Tool(ToolDefinition(name: name, description: description, parameters: parameters)) { arguments in
                await me.perform(name, arguments: arguments)
            }
        }
        return [
            tool(
                "list_files",
                "List a folder of your workspace (default: its root).",
                objectSchema(["path": ("string", "folder relative to the workspace")], required: [])
            ),
            tool(
                "read_file",
                "Read a text file of the workspace. Without offset/limit: the whole file, verbatim, when it is at most \(FileView.characterLimit) characters. A longer file (or range) is cut at a line boundary, never inside a line: the first lines that fit are shown, numbered, then a note naming the lines not shown and the offset/limit that reads them. offset/limit select lines (1-based) and number them.",
                objectSchema(
                    [
                        "path": ("string", "file"), "offset": ("integer", "first line"),
                        "limit": ("integer", "most lines"),
                    ],
                    required: ["path"]
                )
            ),
            tool(
                "write_file",
                "Create or overwrite a whole file of the workspace. The conversation keeps only the file's path, size and a short diff against its previous version, not the content you send; to change part of an existing file, use edit_file, which sends only the changed text.",
                objectSchema(
                    ["path": ("string", "file"), "content": ("string", "whole new content")],
                    required: ["path", "content"]
                )
            ),
            tool(
                "edit_file",
                "Replace one exact, unique occurrence of old_text with new_text in a file: the cheap way to change part of a file (prefer it to write_file for anything but a new file or a rewrite).",
                objectSchema(
                    [
                        "path": ("string", "file"), "old_text": ("string", "exact text, unique in the file"),
                        "new_text": ("string", "replacement"),
                    ],
                    required: ["path", "old_text", "new_text"]
                )
            ),
            tool(
                "shell",
                "Run /bin/sh -c COMMAND in a sandbox: your workspace is /workspace (read-write), the system read-only (gcc, binutils, python3 when installed), no network, no other processes, /tmp private. Timeout default 60 s, output capped at 8,000 characters. For compiling and inspecting; use evaluate to check and time kernels.",
                objectSchema(
                    ["command": ("string", "the command"), "timeout_seconds": ("integer", "at most 300")],
                    required: ["command"]
                )
            ),
            tool(
                "notes",
                "Your notes, kept verbatim when the conversation is compacted: action read, append or replace.",
                objectSchema(
                    [
                        "action": ("string", "read | append | replace"),
                        "text": ("string", "text to append or the new notes"),
                    ],
                    required: ["action"]
                )
            ),
        ]
    }

    /// The names of these tools.
    package static let names: Set<String> = ["list_files", "read_file", "write_file", "edit_file", "shell", "notes"]

    /// Runs one of the standard tools, or returns nil when the name is not one of them.
    /// - Parameters:
    ///   - name: the tool.
    ///   - arguments: its arguments.
    /// - Returns: the outcome, or nil.
    package func run(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome? {
        guard tools.contains(where: { $0.name == name }) else { return nil }
        return await perform(name, arguments: arguments)
    }

    private func perform(_ name: String, arguments: [String: JSONValue]) async -> ToolOutcome {
        do {
            switch name {
            case "list_files":
                return ToolOutcome(try workspace.list(arguments["path"]?.string ?? ""))
            case "read_file":
                let path = try arguments.string("path")
                let text = try workspace.read(path)
                return ToolOutcome(
                    FileView.render(
                        text,
                        path: path,
                        offset: try arguments.int("offset"),
                        limit: try arguments.int("limit")
                    )
                )
            case "write_file":
                let path = try arguments.string("path")
                let content = try arguments.string("content")
                let previous = try? workspace.read(path)
                try workspace.write(path, content: content)
                return ToolOutcome(WriteSummary.describe(path: path, old: previous, new: content))
            case "edit_file":
                let path = try arguments.string("path")
                let new = try arguments.string("new_text")
                let line = try workspace.edit(path, old: try arguments.string("old_text"), new: new)
                let count = FileView.lines(of: new).count
                let total = FileView.lines(of: try workspace.read(path)).count
                let replacement = new.isEmpty ? "the text removed" : "replaced by \(count) line\(count == 1 ? "" : "s")"
                return ToolOutcome("edited \(path) at line \(line), \(replacement); the file has \(total) lines")
            case "shell":
                let timeout = min(max(try arguments.int("timeout_seconds") ?? 60, 1), 300)
                return await shell(try arguments.string("command"), timeout: .seconds(timeout))
            default:
                return try notes(try arguments.string("action"), text: arguments["text"]?.string)
            }
        } catch let failure as Workspace.Failure {
            return .error(failure.message)
        } catch let failure as ToolArgumentError {
            return .error(failure.message + "; see the tool's schema")
        } catch {
            return .error("\(error)")
        }
    }

    /// The notes, for compaction.
    package var currentNotes: String {
        (try? workspace.read(Self.notesFile)) ?? ""
    }

    private func notes(_ action: String, text: String?) throws -> ToolOutcome {
        switch action {
        case "read": return ToolOutcome(currentNotes.isEmpty ? "(no notes yet)" : currentNotes)
        case "append":
            guard let text else { return .error("append needs 'text'") }
            try workspace.write(Self.notesFile, content: currentNotes + (currentNotes.isEmpty ? "" : "\n") + text)
            return ToolOutcome("notes: \(currentNotes.count) characters")
        case "replace":
            try workspace.write(Self.notesFile, content: text ?? "")
            return ToolOutcome("notes replaced")
        default: return .error("action must be read, append or replace")
        }
    }

    /// The shell's sandbox: the workspace read-write at `/workspace` (in the host's place when there is
    /// no sandbox), the system read-only, a private /tmp, /dev and /proc of its own, no network.
    package var shellJail: Jail {
        let isolated = sandbox.mode == .isolated
        let inside = isolated ? Self.shellWorkspace : workspace.root.path
        var jail = Jail(
            mounts: [
                .system, .devices, .proc, .tmpfs(at: "/tmp", megabytes: 1024),
                .writable(workspace.root, at: inside),
            ],
            workingDirectory: inside,
            environment: [
                "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": inside, "LC_ALL": "C",
                "TMPDIR": isolated ? "/tmp" : NSTemporaryDirectory(),
            ]
        )
        jail.memoryMB = 8192
        jail.fileMB = 1024
        jail.maxProcesses = 512
        return jail
    }

    /// Runs `/bin/sh -c command` in the shell's sandbox with a deadline (the sandbox and its process
    /// group are killed) and capped output.
    private func shell(_ command: String, timeout: Duration) async -> ToolOutcome {
        do {
            let result = try await sandbox.run(
                "/bin/sh",
                ["-c", command],
                jail: shellJail,
                timeout: timeout,
                outputLimit: 4 << 20
            )
            if result.hasTimedOut {
                return .error(
                    "the command did not finish within \(timeout.components.seconds) s; its sandbox and process group were killed"
                )
            }
            let status =
                switch result.status {
                case .exited(let code) where code > 128: "killed by signal \(code - 128)"
                case .exited(let code): "exit \(code)"
                case .signaled(let signal): "killed by signal \(signal)"
                }
            return ToolOutcome(
                "[\(status)]\n" + ToolText.capped(result.output, limit: 8000),
                isError: !result.status.isSuccess
            )
        } catch {
            return .error("the command could not run: \(error.message)")
        }
    }

}
