package import Foundation
import Synchronization

/// Where an evaluation runs: here (``LocalExecutor``, the default) or on a cluster (Ray). An executor
/// takes the same ``EvaluationRequest`` the ``Evaluator`` does and answers the same ``EvaluationResult``;
/// a remote one ships it as an ``EvaluationBundle`` and runs it with `kiln eval-bundle` on a node.
///
/// Every run kind reaches an executor through the run's one journaled evaluation (`Ledger.evaluate`).
package protocol EvaluationExecutor: Sendable {
    /// What it is, for people and for the journal: `local`, `ray at 10.0.0.1:6379`.
    var label: String { get }
    /// How many evaluations it runs at once (its slots); more may be submitted, and wait.
    var slots: Int { get }
    /// Evaluates one request.
    /// - Parameters:
    ///   - request: what to evaluate.
    ///   - placement: where it must run.
    /// - Returns: the result; candidate failures are verdicts in it. A remote result names its node.
    /// - Throws: ``HarnessError`` when Kiln, the task or the machine is at fault; ``ExecutorError`` when the
    ///   cluster is gone or a node cannot evaluate; `CancellationError` when cancelled.
    func evaluate(_ request: EvaluationRequest, placement: Placement) async throws -> EvaluationResult
    /// Where its slots stand now (per node, in use), or nil for an executor without nodes.
    var status: ExecutorStatus? { get }
    /// Sets what is told of every change of ``status`` (nil to stop telling).
    /// - Parameter sink: called with each new status, from any task.
    func onStatusChange(_ sink: (@Sendable (ExecutorStatus) -> Void)?)
}

extension EvaluationExecutor {
    /// Evaluates one request wherever the executor chooses.
    /// - Parameter request: what to evaluate.
    /// - Returns: the result.
    /// - Throws: as ``evaluate(_:placement:)``.
    package func evaluate(_ request: EvaluationRequest) async throws -> EvaluationResult {
        try await evaluate(request, placement: .anywhere)
    }
}

/// Where an evaluation must run.
package enum Placement: Sendable, Hashable {
    /// On any free slot.
    case anywhere
    /// On the node with this id (re-measuring on the run's reference node kind).
    case node(String)
}

/// The cluster node that measured a result.
package struct EvaluationNode: Codable, Sendable, Hashable {
    /// The cluster's id of the node (Ray's node id, hex).
    package var id: String
    /// Its network address.
    package var address: String
    /// Its host name.
    package var hostname: String
    /// The kind its operator labelled it with (`KILN_NODE_KIND` when the node was started), if any.
    package var label: String?

    /// Creates a node's identity.
    /// - Parameters:
    ///   - id: the cluster's id of the node.
    ///   - address: its network address.
    ///   - hostname: its host name.
    ///   - label: the kind its operator labelled it with.
    package init(id: String, address: String, hostname: String, label: String? = nil) {
        self.id = id
        self.address = address
        self.hostname = hostname
        self.label = label
    }

    /// A short name for people: the host and the id's first eight digits (two nodes may share a host).
    package var name: String { "\(hostname)/\(id.prefix(8))" }
}

extension EvaluationResult {
    /// The kind of machine that measured the result: its node's label, else the processor and the device
    /// (results of one kind are comparable; the winner is re-measured on the run's reference kind).
    package var nodeKind: String {
        if let label = node?.label, !label.isEmpty { return label }
        return "\(machine.cpuModel) · \(device ?? "cpu")"
    }
}

/// An executor's slots as they stand: per node, how many and how many in use.
package struct ExecutorStatus: Codable, Sendable, Hashable {
    /// One node's slots.
    package struct Node: Codable, Sendable, Hashable {
        /// The node's id.
        package var id: String
        /// Its address.
        package var address: String
        /// Its host name.
        package var hostname: String
        /// The Kiln slots it advertises.
        package var slots: Int
        /// Those in use now.
        package var inUse: Int
        /// Whether the cluster counts it alive.
        package var isAlive: Bool

        /// Creates a node's line.
        /// - Parameters:
        ///   - id: the node's id.
        ///   - address: its address.
        ///   - hostname: its host name.
        ///   - slots: its slots.
        ///   - inUse: those in use.
        ///   - isAlive: whether it is alive.
        package init(id: String, address: String, hostname: String, slots: Int, inUse: Int, isAlive: Bool) {
            self.id = id
            self.address = address
            self.hostname = hostname
            self.slots = slots
            self.inUse = inUse
            self.isAlive = isAlive
        }

        /// A short name for people, as ``EvaluationNode/name``.
        package var name: String { "\(hostname)/\(id.prefix(8))" }
    }

    /// The executor, as ``EvaluationExecutor/label``.
    package var executor: String
    /// Its nodes.
    package var nodes: [Node]
    /// Evaluations submitted and not yet answered.
    package var inFlight: Int
    /// When this status was taken.
    package var updatedAt: Date

    /// Creates a status.
    /// - Parameters:
    ///   - executor: the executor's label.
    ///   - nodes: its nodes.
    ///   - inFlight: evaluations submitted and not answered.
    ///   - updatedAt: when it was taken.
    package init(executor: String, nodes: [Node], inFlight: Int, updatedAt: Date = Date()) {
        self.executor = executor
        self.nodes = nodes
        self.inFlight = inFlight
        self.updatedAt = updatedAt
    }
}

/// An executor that cannot evaluate: its cluster is unreachable or went away, it has no Kiln slots, or a
/// node lacks what the task needs. The run that met it stops resumably.
package struct ExecutorError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        /// Nothing answers at the cluster's address.
        package static let unreachable = Code(rawValue: "unreachable")
        /// The cluster advertises no `kiln_slot` resource.
        package static let noSlots = Code(rawValue: "no slots")
        /// The executor's own helper (the Python bridge) could not start or failed.
        package static let bridgeFailed = Code(rawValue: "bridge failed")
        /// The cluster went away while evaluations were in flight.
        package static let clusterGone = Code(rawValue: "cluster gone")
        /// A node lacks what the evaluation needs (the `kiln` build, the compiler, Python packages).
        package static let nodeUnfit = Code(rawValue: "node unfit")
        /// The evaluation's node died and the cluster's retries ran out.
        package static let nodeDied = Code(rawValue: "node died")

        package var description: String { rawValue }
    }

    /// What kind of failure this is.
    package var code: Code
    /// What is wrong, on which node, and what to do.
    package var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: what kind of failure this is.
    ///   - message: what is wrong and what to do.
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}

/// Today's executor: evaluations run here, one at a time (two evaluations timed at once on one machine
/// would disturb each other's figures), through the ``Evaluator``.
package struct LocalExecutor: EvaluationExecutor {
    /// The evaluator.
    package var evaluator: Evaluator
    private let gate = SlotGate()

    /// Creates the local executor.
    /// - Parameter evaluator: the evaluator.
    package init(evaluator: Evaluator) {
        self.evaluator = evaluator
    }

    package var label: String { "local" }
    package var slots: Int { 1 }
    package var status: ExecutorStatus? { nil }
    package func onStatusChange(_ sink: (@Sendable (ExecutorStatus) -> Void)?) {}

    package func evaluate(_ request: EvaluationRequest, placement: Placement) async throws -> EvaluationResult {
        await gate.acquire()
        defer { gate.release() }
        try Task.checkCancellation()
        return try await evaluator.evaluate(request)
    }
}

/// One slot, waited for in order of arrival.
private final class SlotGate: Sendable {
    private struct State {
        var isBusy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isFree = state.withLock { state in
                if state.isBusy {
                    state.waiting.append(continuation)
                    return false
                }
                state.isBusy = true
                return true
            }
            if isFree { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.isBusy = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
