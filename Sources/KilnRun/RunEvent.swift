package import Foundation
package import KilnAgent
import KilnCore
package import KilnHarness
package import KilnTask

/// The settings a run starts with; a resumed run keeps them.
package struct RunSettings: Codable, Sendable, Hashable {
    /// One design the run tunes: a seed file of the task and its space.
    package struct Design: Codable, Sendable, Hashable {
        /// The design's name (its file name without extension).
        package var name: String
        /// Its path relative to the task folder.
        package var path: String
        /// Its source, as it was when the run started.
        package var source: String
        /// The number of configurations in its tunable space.
        package var spaceSize: Int

        /// Creates a design.
        /// - Parameters:
        ///   - name: its name (the file name without extension).
        ///   - path: its path relative to the task folder.
        ///   - source: its source.
        ///   - spaceSize: the number of configurations in its tunable space.
        package init(name: String, path: String, source: String, spaceSize: Int) {
            self.name = name
            self.path = path
            self.source = source
            self.spaceSize = spaceSize
        }
    }

    /// The run's id.
    package var id: String
    /// The task folder as given.
    package var taskPath: String
    /// The task's name.
    package var taskName: String
    /// The task's content hash: a resumed run refuses a changed task.
    package var taskHash: String
    /// The designs tuned.
    package var designs: [Design]
    /// The search strategy's name.
    package var strategy: String
    /// The seed of every random choice.
    package var seed: UInt64
    /// The most wall time, seconds, over all parts of the run.
    package var maxSeconds: Double?
    /// The most evaluations.
    package var maxEvaluations: Int?
    /// Fewest and most timed pairs per shape in each evaluation.
    package var minPairs: Int
    /// See ``minPairs``.
    package var maxPairs: Int
    /// Who proposes candidates: "tuner" for a run without a model.
    package var proposer: String
    /// The machine the run started on.
    package var machine: MachineProfile
    /// Kiln's version.
    package var kilnVersion: String
    /// The model and its budgets, for agent runs.
    package var agent: AgentSettings?
    /// Where evaluations ran when not here: the executor's label (`ray at ADDR`); nil for local runs.
    package var executor: String?
    /// How many evaluations the tuner keeps in flight (the executor's slots when the run started); nil
    /// for one. Journaled so that a resumed run proposes exactly what an uninterrupted one would.
    package var parallelism: Int?
    /// The node kind the winner is re-measured on before it is declared (see
    /// `EvaluationResult.nodeKind`); nil for the kind of the node that measured the run's first result.
    package var referenceKind: String?

    /// Creates settings (a run journals them with `started`).
    /// - Parameters:
    ///   - id: the run's id.
    ///   - taskPath: the task folder as given.
    ///   - taskName: the task's name.
    ///   - taskHash: the task's content hash.
    ///   - designs: the designs tuned.
    ///   - strategy: the search strategy's name.
    ///   - seed: the seed of every random choice.
    ///   - maxSeconds: the most wall time, seconds.
    ///   - maxEvaluations: the most evaluations.
    ///   - minPairs: the fewest timed pairs per shape.
    ///   - maxPairs: the most timed pairs per shape.
    ///   - proposer: who proposes candidates.
    ///   - machine: the machine the run started on.
    ///   - kilnVersion: Kiln's version.
    ///   - agent: the model and its budgets, for agent runs.
    package init(
        id: String,
        taskPath: String,
        taskName: String,
        taskHash: String,
        designs: [Design],
        strategy: String,
        seed: UInt64,
        maxSeconds: Double?,
        maxEvaluations: Int?,
        minPairs: Int,
        maxPairs: Int,
        proposer: String,
        machine: MachineProfile,
        kilnVersion: String,
        agent: AgentSettings? = nil
    ) {
        self.id = id
        self.taskPath = taskPath
        self.taskName = taskName
        self.taskHash = taskHash
        self.designs = designs
        self.strategy = strategy
        self.seed = seed
        self.maxSeconds = maxSeconds
        self.maxEvaluations = maxEvaluations
        self.minPairs = minPairs
        self.maxPairs = maxPairs
        self.proposer = proposer
        self.machine = machine
        self.kilnVersion = kilnVersion
        self.agent = agent
    }
}

/// How an agent run reaches its model and what it may spend; the key itself is never recorded.
///
/// Journaled with `started` in the flat layout of journal format 1 (`wire_protocol`, `endpoint`, `model`,
/// `api_key_variable`, `script`, `request_timeout_seconds`, `temperature`, `is_streaming`,
/// `context_limit`, `budgets`, `prices`), written out key by key.
package struct AgentSettings: Codable, Sendable, Hashable {
    /// The endpoint (no key).
    package var endpoint: ModelEndpoint
    /// The scripted model's script, for `--model scripted:FILE` runs.
    package var script: String?
    /// The model's context, tokens.
    package var contextLimit: Int
    /// Budgets of the conversation.
    package var budgets: AgentBudgets

    /// Creates settings.
    /// - Parameters:
    ///   - endpoint: the endpoint.
    ///   - script: the scripted model's script, if scripted.
    ///   - contextLimit: the model's context.
    ///   - budgets: the conversation's budgets.
    package init(endpoint: ModelEndpoint, script: String?, contextLimit: Int, budgets: AgentBudgets) {
        self.endpoint = endpoint
        self.script = script
        self.contextLimit = contextLimit
        self.budgets = budgets
    }

    /// Prices, when known.
    package var prices: ModelPrices? { endpoint.prices }

    /// The proposer label: `scripted:FILE` or `PROTOCOL:MODEL`.
    package var label: String {
        if let script { return "scripted:\(script)" }
        return "\(endpoint.wireProtocol.rawValue):\(endpoint.model)"
    }

    private enum Keys: String, CodingKey {
        case wireProtocol, endpoint, model, apiKeyVariable, script, requestTimeoutSeconds, temperature
        case isStreaming, contextLimit, budgets, prices
    }

    /// Decodes journaled settings.
    /// - Parameter decoder: the decoder (snake_case keys).
    /// - Throws: a decoding error.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        var endpoint = ModelEndpoint(
            wireProtocol: try container.decode(ModelProtocol.self, forKey: .wireProtocol),
            baseURL: try container.decode(String.self, forKey: .endpoint),
            model: try container.decode(String.self, forKey: .model),
            apiKeyVariable: try container.decodeIfPresent(String.self, forKey: .apiKeyVariable)
        )
        let seconds = try container.decode(Double.self, forKey: .requestTimeoutSeconds)
        guard let timeout = Duration.checkedSeconds(seconds) else {
            throw DecodingError.dataCorruptedError(
                forKey: .requestTimeoutSeconds,
                in: container,
                debugDescription: "request_timeout_seconds \(seconds) is not a number of seconds Kiln accepts"
            )
        }
        endpoint.requestTimeout = timeout
        endpoint.temperature = try container.decodeIfPresent(Double.self, forKey: .temperature)
        endpoint.isStreaming = try container.decode(Bool.self, forKey: .isStreaming)
        endpoint.prices = try container.decodeIfPresent(ModelPrices.self, forKey: .prices)
        self.init(
            endpoint: endpoint,
            script: try container.decodeIfPresent(String.self, forKey: .script),
            contextLimit: try container.decode(Int.self, forKey: .contextLimit),
            budgets: try container.decode(AgentBudgets.self, forKey: .budgets)
        )
    }

    /// Encodes the settings for the journal.
    /// - Parameter encoder: the encoder (snake_case keys).
    /// - Throws: an encoding error.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(endpoint.wireProtocol, forKey: .wireProtocol)
        try container.encode(endpoint.baseURL, forKey: .endpoint)
        try container.encode(endpoint.model, forKey: .model)
        try container.encodeIfPresent(endpoint.apiKeyVariable, forKey: .apiKeyVariable)
        try container.encodeIfPresent(script, forKey: .script)
        try container.encode(endpoint.requestTimeout.inSeconds, forKey: .requestTimeoutSeconds)
        try container.encodeIfPresent(endpoint.temperature, forKey: .temperature)
        try container.encode(endpoint.isStreaming, forKey: .isStreaming)
        try container.encode(contextLimit, forKey: .contextLimit)
        try container.encode(budgets, forKey: .budgets)
        try container.encodeIfPresent(endpoint.prices, forKey: .prices)
    }
}

/// One entry of a run's journal. Events are appended before their effect is acknowledged; the run's
/// state is a fold over them.
package enum RunEvent: Sendable, Hashable {
    /// The run began.
    case started(RunSettings)
    /// The run continued after a stop, in a new process.
    case resumed(pid: Int32)
    /// A candidate was made: a design at one configuration.
    case candidateCreated(CandidateRecord)
    /// Its evaluation began.
    case evaluationStarted(candidate: Int)
    /// Its evaluation ended.
    case evaluationFinished(candidate: Int, result: EvaluationResult)
    /// A new best correct candidate.
    case bestImproved(candidate: Int, speedup: Double)
    /// A budget ran out.
    case budgetExhausted(String)
    /// The winner measured again on the suite, on a node of the run's reference kind, before it was
    /// declared (its suite result came from a node of another kind).
    case winnerRemeasured(candidate: Int, result: EvaluationResult)
    /// The end-of-run check of a candidate on the held-out shapes.
    case heldoutChecked(candidate: Int, result: EvaluationResult)
    /// The end-of-run measurement of the leading candidate beside the runner-up, in the same pairs, before
    /// a winner is declared.
    case remeasured(candidate: Int, rival: Int, result: EvaluationResult)
    /// The run ended.
    case finished(RunOutcome)
    /// The run stopped on request (Ctrl-C); it can be resumed.
    case interrupted
    /// A step of the model's conversation.
    case agent(AgentEvent)
    /// The model started a new design track (an architectural redesign) and made it current.
    case trackStarted(name: String, rationale: String)
    /// The model made an existing track current.
    case trackSwitched(name: String)

    /// The event's kind, as stored in the journal.
    package var kind: String {
        switch self {
        case .started: "started"
        case .resumed: "resumed"
        case .candidateCreated: "candidate_created"
        case .evaluationStarted: "evaluation_started"
        case .evaluationFinished: "evaluation_finished"
        case .bestImproved: "best_improved"
        case .budgetExhausted: "budget_exhausted"
        case .heldoutChecked: "heldout_checked"
        case .winnerRemeasured: "winner_remeasured"
        case .remeasured: "remeasured"
        case .finished: "finished"
        case .interrupted: "interrupted"
        case .agent(let event): "agent_" + event.kind
        case .trackStarted: "track_started"
        case .trackSwitched: "track_switched"
        }
    }
}

/// A candidate of a run.
package struct CandidateRecord: Codable, Sendable, Hashable {
    /// Its number within the run, from 1.
    package var id: Int
    /// The design it belongs to.
    package var design: String
    /// Its point in the design's grid.
    package var point: Int
    /// Its tunable configuration.
    package var configuration: TunableConfiguration
    /// The candidate it was derived from, if any.
    package var parent: Int?
    /// The file it came from in the workspace (agent runs).
    package var file: String?
    /// Its source as evaluated (agent runs: the workspace file changes afterwards).
    package var source: String?
    /// The shapes it was evaluated on when not the whole suite; such candidates are not ranked.
    package var shapes: [String]?

    /// Creates a candidate.
    /// - Parameters:
    ///   - id: its number within the run.
    ///   - design: its design (or design track).
    ///   - point: its point in the design's grid (-1 outside a grid).
    ///   - configuration: its tunable configuration.
    ///   - parent: the candidate it was derived from.
    ///   - file: its workspace file (agent runs).
    ///   - source: its source as evaluated (agent runs).
    ///   - shapes: the shapes of a partial evaluation.
    package init(
        id: Int,
        design: String,
        point: Int,
        configuration: TunableConfiguration,
        parent: Int?,
        file: String? = nil,
        source: String? = nil,
        shapes: [String]? = nil
    ) {
        self.id = id
        self.design = design
        self.point = point
        self.configuration = configuration
        self.parent = parent
        self.file = file
        self.source = source
        self.shapes = shapes
    }
}

/// How a run ended.
package struct RunOutcome: Codable, Sendable, Hashable {
    /// Why it ended: "exhausted" (search space), "budget", or "finished" (the model called finish).
    package var reason: String
    /// The best correct candidate on the suite.
    package var best: Int?
    /// The best candidate that also passed the held-out shapes (the answer).
    package var winner: Int?
    /// The winner's speedup on the suite.
    package var winnerSpeedup: Double?
    /// The standalone winner file, relative to the run folder.
    package var winnerFile: String?
    /// The report, relative to the run folder.
    package var reportFile: String?
    /// The node kind the winner's speedup was measured on, for runs whose evaluations ran on a cluster.
    package var referenceKind: String?

    /// Creates an outcome.
    /// - Parameters:
    ///   - reason: why the run ended.
    ///   - best: the best correct candidate on the suite.
    ///   - winner: the best candidate that also passed the held-out shapes.
    ///   - winnerSpeedup: the winner's speedup on the suite.
    ///   - winnerFile: the winner file, relative to the run folder.
    ///   - reportFile: the report, relative to the run folder.
    package init(
        reason: String,
        best: Int?,
        winner: Int?,
        winnerSpeedup: Double?,
        winnerFile: String?,
        reportFile: String?
    ) {
        self.reason = reason
        self.best = best
        self.winner = winner
        self.winnerSpeedup = winnerSpeedup
        self.winnerFile = winnerFile
        self.reportFile = reportFile
    }
}

extension RunEvent {
    private struct Payload: Codable {
        var settings: RunSettings?
        var pid: Int32?
        var candidateRecord: CandidateRecord?
        var candidate: Int?
        var result: EvaluationResult?
        var speedup: Double?
        var budget: String?
        var outcome: RunOutcome?
        /// Encoded with plain keys (not snake_case): conversation types carry labels like `callID`.
        var agentEventText: String?
        var name: String?
        var rationale: String?
        var rival: Int?
    }

    /// The event's payload as JSON.
    /// - Returns: the encoded payload.
    /// - Throws: an encoding error.
    package func encodedPayload() throws -> Data {
        var payload = Payload()
        switch self {
        case .started(let settings): payload.settings = settings
        case .resumed(let pid): payload.pid = pid
        case .candidateCreated(let record): payload.candidateRecord = record
        case .evaluationStarted(let candidate): payload.candidate = candidate
        case .evaluationFinished(let candidate, let result), .heldoutChecked(let candidate, let result),
            .winnerRemeasured(let candidate, let result):
            payload.candidate = candidate
            payload.result = result
        case .bestImproved(let candidate, let speedup):
            payload.candidate = candidate
            payload.speedup = speedup
        case .remeasured(let candidate, let rival, let result):
            payload.candidate = candidate
            payload.rival = rival
            payload.result = result
        case .budgetExhausted(let budget): payload.budget = budget
        case .finished(let outcome): payload.outcome = outcome
        case .interrupted: break
        case .agent(let event):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            payload.agentEventText = String(decoding: try encoder.encode(event), as: UTF8.self)
        case .trackStarted(let name, let rationale):
            payload.name = name
            payload.rationale = rationale
        case .trackSwitched(let name): payload.name = name
        }
        return try EvaluationCoding.compactEncoder.encode(payload)
    }

    /// Rebuilds an event from its journal row.
    /// - Parameters:
    ///   - kind: the stored kind.
    ///   - payload: the stored JSON.
    /// - Returns: the event, or nil for a kind this version does not know.
    /// - Throws: a decoding error for a malformed payload.
    package static func decode(kind: String, payload: Data) throws -> RunEvent? {
        let p = try EvaluationCoding.decoder.decode(Payload.self, from: payload)
        func need<T>(_ value: T?) throws -> T {
            guard let value else { throw RunError(.corrupt, "journal event '\(kind)' lacks its payload") }
            return value
        }
        switch kind {
        case "started": return .started(try need(p.settings))
        case "resumed": return .resumed(pid: try need(p.pid))
        case "candidate_created": return .candidateCreated(try need(p.candidateRecord))
        case "evaluation_started": return .evaluationStarted(candidate: try need(p.candidate))
        case "evaluation_finished":
            return .evaluationFinished(candidate: try need(p.candidate), result: try need(p.result))
        case "best_improved": return .bestImproved(candidate: try need(p.candidate), speedup: try need(p.speedup))
        case "budget_exhausted": return .budgetExhausted(try need(p.budget))
        case "heldout_checked": return .heldoutChecked(candidate: try need(p.candidate), result: try need(p.result))
        case "winner_remeasured":
            return .winnerRemeasured(candidate: try need(p.candidate), result: try need(p.result))
        case "remeasured":
            return .remeasured(candidate: try need(p.candidate), rival: try need(p.rival), result: try need(p.result))
        case "finished": return .finished(try need(p.outcome))
        case "interrupted": return .interrupted
        case "track_started": return .trackStarted(name: try need(p.name), rationale: p.rationale ?? "")
        case "track_switched": return .trackSwitched(name: try need(p.name))
        case _ where kind.hasPrefix("agent_"):
            return .agent(try JSONDecoder().decode(AgentEvent.self, from: Data(try need(p.agentEventText).utf8)))
        default: return nil
        }
    }
}
