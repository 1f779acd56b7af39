package import Foundation

/// What a sandboxed program may see and use: the mounts of its otherwise empty file system, its limits,
/// and its environment. Everything not named here (Kiln's home, runs, cache, the task's oracle, other
/// processes, the network) does not exist inside.
package struct Jail: Sendable, Hashable {
    /// One thing visible inside.
    package enum Mount: Sendable, Hashable {
        /// The host's `/usr` read-only, with its `/bin`, `/sbin` and `/lib*` links and the loader's cache.
        case system
        /// A host file or folder, read-only, at a path inside.
        case readOnly(URL, at: String)
        /// A host file or folder, writable, at a path inside.
        case writable(URL, at: String)
        /// An empty private tmpfs of this many MiB.
        case tmpfs(at: String, megabytes: Int)
        /// `/dev/null` alone.
        case devNull
        /// A minimal `/dev`: null, zero, full, random, urandom.
        case devices
        /// A `/proc` of the sandbox's own PID namespace (no other process is in it).
        case proc
    }

    /// What is visible inside.
    package var mounts: [Mount]
    /// The working folder inside.
    package var workingDirectory: String?
    /// The whole environment.
    package var environment: [String: String]
    /// The most address space, MiB (0: unlimited).
    package var memoryMB = 0
    /// The most CPU time, seconds (0: unlimited).
    package var cpuSeconds = 0
    /// The largest file it may write, MiB (0: unlimited).
    package var fileMB = 0
    /// The most open descriptors (0: unchanged).
    package var maxFileDescriptors = 0
    /// The most processes of its user (0: unchanged).
    package var maxProcesses = 0
    /// When Kiln runs as root: run as the host's nobody, not as root's own uid (folders it writes must then
    /// be writable by nobody).
    package var asNobody = false

    /// Creates a jail.
    /// - Parameters:
    ///   - mounts: what is visible inside.
    ///   - workingDirectory: the working folder inside.
    ///   - environment: the whole environment.
    package init(mounts: [Mount], workingDirectory: String? = nil, environment: [String: String] = [:]) {
        self.mounts = mounts
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// The launcher's options for this jail, before `--`.
    package var launcherArguments: [String] {
        var arguments: [String] = []
        for mount in mounts {
            switch mount {
            case .system: arguments.append("--system")
            case .readOnly(let url, let target): arguments += ["--ro-bind", url.path, target]
            case .writable(let url, let target): arguments += ["--bind", url.path, target]
            case .tmpfs(let target, let megabytes): arguments += ["--tmpfs", target, String(megabytes)]
            case .devNull: arguments.append("--dev-null")
            case .devices: arguments.append("--dev")
            case .proc: arguments.append("--proc")
            }
        }
        if let workingDirectory { arguments += ["--chdir", workingDirectory] }
        for (flag, value) in [
            ("--memory-mb", memoryMB), ("--cpu-seconds", cpuSeconds), ("--file-mb", fileMB),
            ("--max-fds", maxFileDescriptors), ("--max-procs", maxProcesses),
        ] where value > 0 {
            arguments += [flag, String(value)]
        }
        if asNobody { arguments.append("--nobody") }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["--setenv", name, value] }
        return arguments
    }
}
