package import Foundation
import KilnCore
package import KilnHarness
package import KilnSandbox
import KilnTask
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How Kiln reaches a Ray cluster.
package struct RayConfiguration: Sendable {
    /// The cluster's address (`HOST:PORT` of its head node's GCS).
    package var address: String
    /// The `kiln` executable on the nodes (the same build as this one, at this path, on a cluster of one
    /// kind of machine).
    package var nodeKiln: String
    /// Where bundles and the bridge's log are written.
    package var workFolder: URL
    /// How candidates run on the nodes (the node's own sandbox, as here).
    package var sandboxMode: Sandbox.Mode
    /// The longest one evaluation may take on a node before it is cancelled there.
    package var deadline: Duration = .seconds(1800)
    /// How many times Ray runs an evaluation again on another node when its node dies.
    package var retries = 3
    /// The Pythons to try for the bridge, in order (the first that exists).
    package var pythons: [String]
    /// The bridge's environment.
    package var environment: [String: String]
    /// The machine recorded in a result whose node passed the deadline (nothing came back from it).
    package var fallbackMachine: MachineProfile

    /// Creates a configuration.
    /// - Parameters:
    ///   - address: the cluster's address.
    ///   - nodeKiln: the `kiln` executable on the nodes.
    ///   - workFolder: where bundles and the bridge's log go.
    ///   - sandboxMode: how candidates run on the nodes.
    ///   - pythons: the Pythons to try for the bridge.
    ///   - environment: the bridge's environment.
    ///   - fallbackMachine: the machine a result with no answer from its node records.
    package init(
        address: String,
        nodeKiln: String,
        workFolder: URL,
        sandboxMode: Sandbox.Mode,
        pythons: [String],
        environment: [String: String],
        fallbackMachine: MachineProfile
    ) {
        self.address = address
        self.nodeKiln = nodeKiln
        self.workFolder = workFolder
        self.sandboxMode = sandboxMode
        self.pythons = pythons
        self.environment = environment
        self.fallbackMachine = fallbackMachine
    }
}

/// The Ray executor: each evaluation is an ``EvaluationBundle`` submitted as a Ray task asking for one
/// `kiln_slot`, which runs `kiln eval-bundle` on its node; Kiln talks to the cluster through a Python
/// bridge (`kiln_ray_bridge.py`) it starts and speaks JSON lines with over pipes.
///
/// Sendable: its state is behind a `Mutex`; the bridge's pipes belong to the tasks of ``with(_:body:)``.
package final class RayExecutor: EvaluationExecutor {
    private let configuration: RayConfiguration
    private let outgoing: AsyncStream<String>.Continuation
    private let state = Mutex(State())
    /// The bridge's log, for messages that point at it.
    package let logURL: URL

    private struct State {
        var isReady = false
        var readiness: CheckedContinuation<Void, any Error>?
        var slots = 0
        var status: ExecutorStatus?
        var sink: (@Sendable (ExecutorStatus) -> Void)?
        var waiting: [String: CheckedContinuation<BridgeAnswer, any Error>] = [:]
        var cancelled: Set<String> = []
        var failure: ExecutorError?
    }

    private init(configuration: RayConfiguration, outgoing: AsyncStream<String>.Continuation, logURL: URL) {
        self.configuration = configuration
        self.outgoing = outgoing
        self.logURL = logURL
    }

    package var label: String { "ray at \(configuration.address)" }
    package var slots: Int { state.withLock { $0.slots } }
    package var status: ExecutorStatus? { state.withLock { $0.status } }

    package func onStatusChange(_ sink: (@Sendable (ExecutorStatus) -> Void)?) {
        state.withLock { $0.sink = sink }
    }

    /// Connects to a cluster (starting the bridge, which checks the address answers and the cluster has
    /// Kiln slots), runs `body` with the executor, then stops the bridge (Ray cancels what it left).
    /// - Parameters:
    ///   - configuration: the cluster and how to reach it.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: ``ExecutorError`` when the cluster cannot be reached or has no slots, or the bridge
    ///   cannot start; what `body` throws.
    package static func with<R: Sendable>(
        _ configuration: RayConfiguration,
        body: (RayExecutor) async throws -> R
    ) async throws -> R {
        let bridge = try bridgeScript()
        let python =
            configuration.pythons.first { !$0.contains("/") || FileManager.default.isExecutableFile(atPath: $0) }
            ?? "python3"
        do {
            try FileManager.default.createDirectory(at: configuration.workFolder, withIntermediateDirectories: true)
        } catch {
            throw ExecutorError(.bridgeFailed, "cannot create \(configuration.workFolder.path): \(error)")
        }
        let logURL = configuration.workFolder.appending(path: "bridge-\(getpid()).log")
        var environment = configuration.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment["RAY_USAGE_STATS_ENABLED"] = "0"
        // A head that goes away ends the bridge within seconds (Ray's default waits a minute).
        environment["RAY_gcs_rpc_server_reconnect_timeout_s"] =
            environment["RAY_gcs_rpc_server_reconnect_timeout_s"] ?? "10"
        let process = Subprocess.Configuration(
            executable: .path(FilePath(python)),
            arguments: Arguments([bridge.path, "--address", configuration.address, "--log", logURL.path]),
            environment: .custom(Environment.Key.dictionary(environment)),
            platformOptions: ProcessRunner.sessionOptions(grace: .milliseconds(500))
        )
        let (lines, outgoing) = AsyncStream.makeStream(of: String.self)
        let executor = RayExecutor(configuration: configuration, outgoing: outgoing, logURL: logURL)
        do {
            let outcome = try await Subprocess.run(process, input: .inputWriter, output: .sequence, error: .discarded) {
                execution in
                let writer = execution.standardInputWriter
                let output = execution.standardOutput
                let group = execution.processIdentifier.value
                defer { kill(-group, SIGKILL) }
                return try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await executor.read(output) }
                    tasks.addTask {
                        for await line in lines { _ = try? await writer.write(Array((line + "\n").utf8)) }
                        try? await writer.finish()
                    }
                    defer {
                        outgoing.finish()
                        kill(-group, SIGTERM)
                    }
                    try await executor.awaitReady()
                    return try await body(executor)
                }
            }
            return outcome.closureResult
        } catch let error as SubprocessError {
            throw ExecutorError(.bridgeFailed, "cannot start Kiln's Ray bridge with \(python): \(error)")
        }
    }

    private static func bridgeScript() throws(ExecutorError) -> URL {
        guard let folder = Bundle.module.url(forResource: "python", withExtension: nil) else {
            throw ExecutorError(
                .bridgeFailed,
                "Kiln's Ray bridge is missing next to the executable; rebuild Kiln with 'swift build'"
            )
        }
        return folder.appending(path: "kiln_ray_bridge.py")
    }

    // MARK: - Evaluating

    package func evaluate(_ request: EvaluationRequest, placement: Placement) async throws -> EvaluationResult {
        let bundle = try EvaluationBundle.write(
            request,
            sandboxMode: configuration.sandboxMode,
            into: configuration.workFolder.appending(path: "bundles")
        )
        defer { try? FileManager.default.removeItem(at: bundle.folder) }
        let id = UUID().uuidString
        var submit: [String: Any] = [
            "op": "submit", "id": id, "bundle": bundle.folder.path, "kiln": configuration.nodeKiln,
            "deadline": configuration.deadline.inSeconds, "retries": configuration.retries,
        ]
        if case .node(let node) = placement { submit["node"] = node }
        let line = Self.line(submit)
        let answer = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BridgeAnswer, any Error>) in
                let refusal: (any Error)? = state.withLock { state in
                    if let failure = state.failure { return failure }
                    if state.cancelled.remove(id) != nil { return CancellationError() }
                    state.waiting[id] = continuation
                    return nil
                }
                if let refusal { continuation.resume(throwing: refusal) } else { outgoing.yield(line) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                guard let waiter = state.waiting.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil as CheckedContinuation<BridgeAnswer, any Error>?
                }
                return waiter
            }
            outgoing.yield(Self.line(["op": "cancel", "id": id]))
            waiter?.resume(throwing: CancellationError())
        }
        return try result(of: answer, request: request)
    }

    /// What a bridge's answer means: the node's result (its node recorded), a verdict for a node that
    /// passed the deadline, or an error naming the node.
    private func result(of answer: BridgeAnswer, request: EvaluationRequest) throws -> EvaluationResult {
        let node = answer.node
        let where_ = node.map { "node \($0.name) (\($0.address))" } ?? "a node of the cluster"
        switch answer.code {
        case nil:
            guard var result = answer.result else {
                throw ExecutorError(.bridgeFailed, "\(where_) answered no result; see \(logURL.path)")
            }
            result.node = node
            return result
        case "deadline":
            return timedOut(request, after: configuration.deadline)
        case "node_unfit":
            throw ExecutorError(.nodeUnfit, "\(where_) cannot evaluate: \(answer.message ?? "no reason given")")
        case "node_died":
            throw ExecutorError(
                .nodeDied,
                "the evaluation of \(request.candidateName) lost its node \(configuration.retries + 1) times (\(answer.message ?? "")); is the cluster shrinking?"
            )
        default:
            throw ExecutorError(
                .bridgeFailed,
                "the evaluation of \(request.candidateName) failed on \(where_): \(answer.message ?? "no reason given")"
            )
        }
    }

    private func timedOut(_ request: EvaluationRequest, after deadline: Duration) -> EvaluationResult {
        var result = EvaluationResult(
            correct: false,
            verdict: .timedOut,
            failure:
                "the evaluation did not finish on the cluster within its deadline of \(Int(deadline.inSeconds)) s and was cancelled there: the node may be slow or hung (a candidate's own calls are stopped by the task's call deadline)",
            geomeanSpeedup: nil,
            shapes: [],
            task: request.task.name,
            candidate: request.candidateName,
            configuration: request.configuration,
            flags: [],
            buildLog: "",
            machine: configuration.fallbackMachine,
            contentHash: EvaluationBundle.identity(of: request, sandboxMode: configuration.sandboxMode),
            isCached: false,
            seed: request.options.seed ?? 0,
            wallSeconds: deadline.inSeconds,
            measuredAt: Date(),
            isSandboxed: configuration.sandboxMode == .isolated
        )
        result.device = nil
        return result
    }

    // MARK: - The bridge's side

    private func awaitReady() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Void, ExecutorError>? = state.withLock { state in
                if let failure = state.failure { return .failure(failure) }
                if state.isReady { return .success(()) }
                state.readiness = continuation
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Reads the bridge's lines until it ends; then every evaluation still waiting fails.
    private func read(_ output: SubprocessOutputSequence) async {
        var buffer: [UInt8] = []
        do {
            for try await chunk in output {
                chunk.withUnsafeBytes { buffer.append(contentsOf: $0) }
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    handle(Data(buffer[..<newline]))
                    buffer.removeSubrange(...newline)
                }
                if buffer.count > 1 << 26 { break }
            }
        } catch {}
        let address = configuration.address
        fail(
            ExecutorError(
                .clusterGone,
                "Kiln's Ray bridge ended: the cluster at \(address) went away or dropped this client (its log: \(logURL.path))"
            )
        )
    }

    private func handle(_ line: Data) {
        guard let message = try? EvaluationCoding.decoder.decode(BridgeLine.self, from: line) else { return }
        switch message.event {
        case "ready":
            let nodes = (message.nodes ?? []).map(\.status)
            let status = ExecutorStatus(executor: label, nodes: nodes, inFlight: 0)
            let readiness = state.withLock { state in
                state.isReady = true
                state.slots = message.slots ?? nodes.filter(\.isAlive).reduce(0) { $0 + $1.slots }
                state.status = status
                defer { state.readiness = nil }
                return state.readiness
            }
            readiness?.resume()
        case "fatal":
            let code: ExecutorError.Code =
                switch message.code {
                case "unreachable": .unreachable
                case "no_slots": .noSlots
                case "cluster_gone": .clusterGone
                default: .bridgeFailed
                }
            fail(ExecutorError(code, message.message ?? "Kiln's Ray bridge failed; see \(logURL.path)"))
        case "status":
            let status = ExecutorStatus(
                executor: label,
                nodes: (message.nodes ?? []).map(\.status),
                inFlight: message.inFlight ?? 0
            )
            let sink = state.withLock { state in
                state.status = status
                state.slots = max(status.nodes.filter(\.isAlive).reduce(0) { $0 + $1.slots }, 1)
                return state.sink
            }
            sink?(status)
        case "done":
            guard let id = message.id else { return }
            let waiter = state.withLock { $0.waiting.removeValue(forKey: id) }
            waiter?.resume(returning: BridgeAnswer(message))
        default:
            break
        }
    }

    private func fail(_ error: ExecutorError) {
        let (readiness, waiting) = state.withLock { state in
            if state.failure == nil { state.failure = error }
            defer {
                state.readiness = nil
                state.waiting = [:]
            }
            return (state.readiness, Array(state.waiting.values))
        }
        let failure = state.withLock { $0.failure } ?? error
        readiness?.resume(throwing: failure)
        for waiter in waiting { waiter.resume(throwing: failure) }
    }

    private static func line(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// One line of the bridge (snake_case keys).
private struct BridgeLine: Decodable {
    struct Node: Decodable {
        var id: String
        var address: String?
        var hostname: String?
        var label: String?
        var slots: Int?
        var inUse: Int?
        var alive: Bool?

        var status: ExecutorStatus.Node {
            ExecutorStatus.Node(
                id: id,
                address: address ?? "",
                hostname: hostname ?? "",
                slots: slots ?? 0,
                inUse: inUse ?? 0,
                isAlive: alive ?? false
            )
        }
    }

    var event: String
    var id: String?
    var ok: Bool?
    var result: EvaluationResult?
    var code: String?
    var message: String?
    var node: Node?
    var nodes: [Node]?
    var slots: Int?
    var inFlight: Int?

    private enum CodingKeys: String, CodingKey {
        case event, id, ok, result, code, message, node, nodes, slots, inFlight
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        event = try container.decode(String.self, forKey: .event)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        ok = try container.decodeIfPresent(Bool.self, forKey: .ok)
        // A result this build cannot read still answers its evaluation (as a failure), never leaves it waiting.
        result = try? container.decodeIfPresent(EvaluationResult.self, forKey: .result)
        code = try container.decodeIfPresent(String.self, forKey: .code)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        node = try container.decodeIfPresent(Node.self, forKey: .node)
        nodes = try container.decodeIfPresent([Node].self, forKey: .nodes)
        slots = try container.decodeIfPresent(Int.self, forKey: .slots)
        inFlight = try container.decodeIfPresent(Int.self, forKey: .inFlight)
    }
}

/// The bridge's answer for one evaluation.
private struct BridgeAnswer: Sendable {
    /// The node's result, when it answered one.
    var result: EvaluationResult?
    /// Why not: `deadline`, `node_unfit`, `node_died`, `failed`; nil when it did.
    var code: String?
    /// The bridge's or the node's message.
    var message: String?
    /// The node it ran on, when known.
    var node: EvaluationNode?

    init(_ line: BridgeLine) {
        node = line.node.map {
            EvaluationNode(id: $0.id, address: $0.address ?? "", hostname: $0.hostname ?? "", label: $0.label)
        }
        if line.ok == true, let result = line.result {
            self.result = result
        } else if line.ok == true {
            code = "failed"
            message = "the node's result could not be read (is it the same Kiln build?)"
        } else {
            code = line.code ?? "failed"
            message = line.message
        }
    }
}
