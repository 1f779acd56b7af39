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
        /// Its environment, when not the cluster's (a node missing a tool).
        package var environment: [String: String]?

        /// Creates a node.
        /// - Parameters:
        ///   - slots: its `kiln_slot` resources (0: none).
        ///   - cache: its Kiln cache folder.
        ///   - label: its node kind label.
        ///   - environment: its environment, when not the cluster's.
        package init(slots: Int = 1, cache: URL? = nil, label: String? = nil, environment: [String: String]? = nil) {
            self.slots = slots
            self.cache = cache
            self.label = label
            self.environment = environment
        }
    }

    /// The head's address, `127.0.0.1:PORT`.
    package let address: String
    private let ray: String
    private let environment: [String: String]
    private let groups: Mutex<[pid_t]>
    /// Whether every node came up and the work began.
    private let isStarted = Mutex(false)
    /// In every node's environment, and so in every process Ray starts for it (its workers make sessions of
    /// their own): how the cluster's stragglers are found.
    private let marker = UUID().uuidString
    private static let markerKey = "KILN_LOOPBACK_CLUSTER"

    private init(address: String, ray: String, environment: [String: String]) {
        self.address = address
        self.ray = ray
        self.environment = environment
        self.groups = Mutex([])
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
    ///   - environment: the nodes' environment.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: ``ExecutorError`` `.bridgeFailed` when a node does not start within two minutes, four
    ///   times running; what `body` throws.
    package static func with<R: Sendable>(
        _ nodes: [Node],
        ray: String,
        environment: [String: String],
        body: @Sendable (RayLocalCluster) async throws -> R
    ) async throws -> R {
        var attempt = 1
        while true {
            let port = try freePort()
            let cluster = RayLocalCluster(address: "127.0.0.1:\(port)", ray: ray, environment: environment)
            defer { cluster.killStragglers() }
            do {
                return try await cluster.start(nodes[...]) {
                    cluster.isStarted.withLock { $0 = true }
                    return try await body(cluster)
                }
            } catch let error as ExecutorError where error.code == .bridgeFailed && attempt < 4 {
                // A node that did not come up on a busy machine (Ray gives a raylet 30 s to register, which a
                // loaded 2-core machine missed three times running in a CI rehearsal) or a port taken
                // meanwhile: again, afresh, after a pause that lets a burst of load pass (15, 30, 45 s).
                guard !cluster.isStarted.withLock({ $0 }) else { throw error }
                try await Task.sleep(for: .seconds(15 * attempt))
                attempt += 1
            }
        }
    }

    /// Starts one more worker node joining the cluster, runs `body` with its index (for ``kill(node:)``),
    /// then stops it.
    /// - Parameters:
    ///   - node: the node.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: ``ExecutorError`` `.bridgeFailed` when it does not start; what `body` throws.
    package func withNode<R: Sendable>(
        _ node: Node,
        body: @Sendable (Int) async throws -> R
    ) async throws -> R {
        let index = groups.withLock { $0.count }
        return try await start([node][...]) { try await body(index) }
    }

    /// The processes left of every node this cluster started: in a node's process group, or started by
    /// Ray for one (none once the cluster is stopped).
    package var livePIDs: [Int] {
        let groups = Set(groups.withLock { $0 })
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let marker = Array("\(Self.markerKey)=\(marker)".utf8)
        return entries.compactMap { pid_t($0) }.filter { pid in
            // A zombie is dead already, waiting for whoever inherited it to reap it.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard stat.split(separator: ")").last?.split(separator: " ").first != "Z" else { return false }
            if groups.contains(getpgid(pid)) { return true }
            let environment = (try? Data(contentsOf: URL(filePath: "/proc/\(pid)/environ"))) ?? Data()
            return environment.split(separator: 0).contains { $0.elementsEqual(marker) }
        }.map(Int.init)
    }

    private func killStragglers() {
        for pid in livePIDs { _ = Glibc.kill(pid_t(pid), SIGKILL) }
    }

    private func start<R: Sendable>(
        _ nodes: ArraySlice<Node>,
        body: @Sendable () async throws -> R
    ) async throws -> R {
        guard let node = nodes.first else { return try await body() }
        let index = groups.withLock { $0.count }
        // Ray's socket paths must stay short (108 bytes), so each node's folder is a short one in /tmp.
        let temporary = URL(filePath: "/tmp/kr-\(getpid())-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }
        var arguments = ["start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
        arguments.append(node.slots > 0 ? "--resources={\"kiln_slot\": \(node.slots)}" : "--resources={}")
        arguments.append("--temp-dir=\(temporary.path)")
        if index == 0 {
            arguments += ["--head", "--port=\(address.split(separator: ":").last ?? "6379")"]
            arguments.append("--include-dashboard=false")
        } else {
            arguments.append("--address=\(address)")
        }
        var nodeEnvironment = node.environment ?? environment
        nodeEnvironment["RAY_USAGE_STATS_ENABLED"] = "0"
        nodeEnvironment[Self.markerKey] = marker
        if let cache = node.cache { nodeEnvironment["KILN_NODE_CACHE"] = cache.path }
        if let label = node.label { nodeEnvironment["KILN_NODE_KIND"] = label }
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(ray)),
            arguments: Arguments(arguments),
            environment: .custom(Environment.Key.dictionary(nodeEnvironment)),
            platformOptions: ProcessRunner.sessionOptions(grace: .milliseconds(200))
        )
        let outcome = try await Subprocess.run(
            configuration,
            input: .none,
            output: .sequence,
            error: .combinedWithOutput
        ) {
            execution in
            let group = execution.processIdentifier.value
            groups.withLock { $0.append(group) }
            defer { _ = Glibc.kill(-group, SIGKILL) }
            // A node that does not start in two minutes is killed, which ends the read.
            let said = await withWatchdog(.seconds(120), onTimeout: { _ = Glibc.kill(-group, SIGKILL) }) {
                () async -> (Bool, String) in
                var text = ""
                do {
                    for try await chunk in execution.standardOutput {
                        chunk.withUnsafeBytes { text += String(decoding: $0, as: UTF8.self) }
                        if text.contains("Ray runtime started") { return (true, text) }
                    }
                } catch {}
                return (false, text)
            }
            guard said.0 else {
                let tail = said.1.split(separator: "\n").suffix(4).joined(separator: " | ")
                throw ExecutorError(.bridgeFailed, "the Ray node \(index) on loopback did not start: \(tail)")
            }
            return try await start(nodes.dropFirst(), body: body)
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
