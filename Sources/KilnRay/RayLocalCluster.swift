package import Foundation
import KilnCore
package import KilnHarness
import KilnSandbox
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A Ray cluster on loopback, for tests and benchmarks: a head and workers, each a `ray start --block`
/// in a process group of its own with its own temporary folder, one CPU, no dashboard, and its Kiln
/// slots; stopped (every process group killed) when the closure returns or throws.
package final class RayLocalCluster: Sendable {
    /// One node to start.
    package struct Node: Sendable {
        /// Its `kiln_slot` resources.
        package var slots: Int
        /// Its Kiln cache (`KILN_NODE_CACHE`), or nil for the default.
        package var cache: URL?
        /// Its `KILN_NODE_KIND` label, or nil.
        package var label: String?

        /// Creates a node.
        /// - Parameters:
        ///   - slots: its Kiln slots.
        ///   - cache: its Kiln cache folder.
        ///   - label: its node kind label.
        package init(slots: Int = 1, cache: URL? = nil, label: String? = nil) {
            self.slots = slots
            self.cache = cache
            self.label = label
        }
    }

    /// The head's address, `127.0.0.1:PORT`.
    package let address: String
    private let groups: Mutex<[pid_t]>

    private init(address: String, groups: [pid_t]) {
        self.address = address
        self.groups = Mutex(groups)
    }

    /// The `ray` command beside the first of `pythons` that imports `ray`, or nil.
    /// - Parameter pythons: Python executables, in order.
    /// - Returns: the command's path.
    package static func rayCommand(pythons: [String]) async -> String? {
        for python in pythons where python.contains("/") && FileManager.default.isExecutableFile(atPath: python) {
            let ray = URL(filePath: python).deletingLastPathComponent().appending(path: "ray").path
            guard FileManager.default.isExecutableFile(atPath: ray) else { continue }
            let probe = try? await ProcessRunner.run(python, ["-c", "import ray"], timeout: .seconds(120))
            if probe?.isSuccess == true { return ray }
        }
        return nil
    }

    /// Kills a node's processes (all of its process group), as a machine that dies would vanish.
    /// - Parameter index: the node, 0 being the head.
    package func kill(node index: Int) {
        guard let group = groups.withLock({ index < $0.count ? $0[index] : nil }) else { return }
        _ = Glibc.kill(-group, SIGKILL)
    }

    /// Starts the nodes (the first is the head), runs `body`, then stops them all.
    /// - Parameters:
    ///   - nodes: the nodes; at least one.
    ///   - ray: the `ray` command.
    ///   - folder: where the nodes' temporary folders go.
    ///   - environment: the nodes' environment.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: ``ExecutorError`` `.bridgeFailed` when a node does not start within two minutes; what
    ///   `body` throws.
    package static func with<R: Sendable>(
        _ nodes: [Node],
        ray: String,
        in folder: URL,
        environment: [String: String],
        body: @escaping @Sendable (RayLocalCluster) async throws -> R
    ) async throws -> R {
        let port = try freePort()
        let address = "127.0.0.1:\(port)"
        let cluster = RayLocalCluster(address: address, groups: [])
        return try await start(
            nodes[...],
            index: 0,
            cluster: cluster,
            ray: ray,
            folder: folder,
            environment: environment
        ) {
            try await body(cluster)
        }
    }

    private static func start<R: Sendable>(
        _ nodes: ArraySlice<Node>,
        index: Int,
        cluster: RayLocalCluster,
        ray: String,
        folder: URL,
        environment: [String: String],
        body: @escaping @Sendable () async throws -> R
    ) async throws -> R {
        guard let node = nodes.first else { return try await body() }
        let temporary = folder.appending(path: "ray-node-\(index)")
        try? FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        var arguments = ["start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
        arguments.append("--resources={\"kiln_slot\": \(node.slots)}")
        arguments.append("--temp-dir=\(temporary.path)")
        if index == 0 {
            arguments += ["--head", "--port=\(cluster.address.split(separator: ":").last ?? "6379")"]
            arguments.append("--include-dashboard=false")
        } else {
            arguments.append("--address=\(cluster.address)")
        }
        var nodeEnvironment = environment
        nodeEnvironment["RAY_USAGE_STATS_ENABLED"] = "0"
        if let cache = node.cache { nodeEnvironment["KILN_NODE_CACHE"] = cache.path }
        if let label = node.label { nodeEnvironment["KILN_NODE_KIND"] = label }
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(ray)),
            arguments: Arguments(arguments),
            environment: .custom(Environment.Key.dictionary(nodeEnvironment)),
            platformOptions: ProcessRunner.sessionOptions(grace: .milliseconds(200))
        )
        let outcome = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .discarded) {
            execution in
            let group = execution.processIdentifier.value
            cluster.groups.withLock { $0.append(group) }
            defer { _ = Glibc.kill(-group, SIGKILL) }
            // A node that does not start in two minutes is killed, which ends the read.
            let started = await withWatchdog(.seconds(120), onTimeout: { _ = Glibc.kill(-group, SIGKILL) }) {
                () async -> Bool in
                var text = ""
                do {
                    for try await chunk in execution.standardOutput {
                        chunk.withUnsafeBytes { text += String(decoding: $0, as: UTF8.self) }
                        if text.contains("Ray runtime started") { return true }
                    }
                } catch {}
                return false
            }
            guard started else {
                throw ExecutorError(
                    .bridgeFailed,
                    "the Ray node \(index) on loopback did not start (see \(temporary.path))"
                )
            }
            return try await start(
                nodes.dropFirst(),
                index: index + 1,
                cluster: cluster,
                ray: ray,
                folder: folder,
                environment: environment,
                body: body
            )
        }
        return outcome.closureResult
    }

    /// A TCP port free on loopback now (another process may take it before it is used).
    /// - Returns: the port.
    /// - Throws: ``ExecutorError`` when no socket can be bound.
    package static func freePort() throws(ExecutorError) -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ExecutorError(.bridgeFailed, "cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw ExecutorError(.bridgeFailed, "cannot bind a socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
