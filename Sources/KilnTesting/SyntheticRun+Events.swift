import Foundation
import KilnAgent
package import KilnHarness
import KilnRun
package import KilnTask

/// The values a ``SyntheticRun`` journals: settings, candidates, evaluations and the conversation.
extension SyntheticRun {
    /// The settings journaled with `started`.
    func settings(id: String) -> RunSettings {
        RunSettings(
            id: id,
            taskPath: Fixtures.taskFolder(Self.taskName).path,
            taskName: Self.taskName,
            taskHash: "synthetic-" + String(repeating: "0", count: 54),
            designs: proposer == .tuner
                ? [.init(name: "tiled", path: "seeds/tiled.c", source: Self.designSource, spaceSize: Self.spaceSize)]
                : [],
            strategy: "tpe",
            seed: 11,
            maxSeconds: 1800,
            maxEvaluations: candidates,
            minPairs: 3,
            maxPairs: 6,
            proposer: proposerLabel,
            machine: Self.machine,
            kilnVersion: KilnRun.version,
            agent: proposer == .agent ? agentSettings : nil
        )
    }

    /// An agent run's model (a local OpenAI-compatible server; no key) and budgets.
    var agentSettings: AgentSettings {
        var endpoint = ModelEndpoint(
            wireProtocol: .openAI,
            baseURL: "http://127.0.0.1:8000/v1",
            model: "synthetic-coder",
            apiKeyVariable: nil
        )
        endpoint.prices = ModelPrices(input: 0.5, output: 1.5)
        return AgentSettings(
            endpoint: endpoint,
            script: nil,
            contextLimit: 128_000,
            budgets: AgentBudgets(toolCalls: 60, tokens: 2_000_000, dollars: 5)
        )
    }

    // MARK: - Candidates

    /// The design's grid: BM (3 values), BN (3), BK (2), flag sets (2).
    static let spaceSize = 36

    /// The configuration at a point of the design's grid (mixed radix: BM, BN, BK, flag set).
    static func configuration(at point: Int) -> TunableConfiguration {
        TunableConfiguration(
            values: [
                "BM": ["64", "32", "128"][point % 3], "BN": ["256", "64", "128"][(point / 3) % 3],
                "BK": ["256", "64"][(point / 9) % 2],
            ],
            flagSet: (point / 18) % 2
        )
    }

    /// A candidate's point: the default first, then a walk through the grid that visits every point
    /// once in 36 candidates.
    static func point(of number: Int) -> Int { ((number - 1) * 7) % spaceSize }

    /// A candidate's workspace file (agent runs): one per design track.
    func file(of number: Int) -> String { "\(track(of: number)).c" }

    /// A candidate's source: the design's (tuner runs), or the design as the model rewrote it for this
    /// candidate (agent runs).
    /// - Parameter number: the candidate's number.
    /// - Returns: the source.
    package func source(of number: Int) -> String {
        switch proposer {
        case .tuner: Self.designSource
        case .agent: "/* candidate \(number), track \(track(of: number)) */\n" + Self.designSource
        }
    }

    /// A candidate as the tuner or the agent journals it.
    func candidateRecord(_ number: Int, parent: Int?) -> CandidateRecord {
        let point = Self.point(of: number)
        return switch proposer {
        case .tuner:
            CandidateRecord(
                id: number,
                design: "tiled",
                point: point,
                configuration: Self.configuration(at: point),
                parent: parent
            )
        case .agent:
            CandidateRecord(
                id: number,
                design: track(of: number),
                point: -1,
                configuration: Self.configuration(at: point),
                parent: parent,
                file: file(of: number),
                source: source(of: number)
            )
        }
    }

    // MARK: - Evaluations

    /// A candidate's evaluation on some shapes: correct with per-shape figures around its speedup, or
    /// failed on the first shape with the run's verdict.
    package func evaluation(of number: Int, configuration: TunableConfiguration, isHeldout: Bool = false)
        -> EvaluationResult
    {
        let geomean = speedup(of: number)
        let shapes = isHeldout ? Self.heldout : Self.suite
        // Per-shape spreads whose product is 1, so the suite's geometric mean is the candidate's (and
        // the held-out shapes' 0.95 of it).
        let spreads = isHeldout ? [0.95 * 0.97, 0.95 / 0.97] : [1.12, 0.94, 0.88, 1 / (1.12 * 0.94 * 0.88)]
        var shapeResults: [ShapeResult] = []
        var failure: String? = nil
        for (index, shape) in shapes.enumerated() {
            let flops = 2.0 * Double(shape.m * shape.n * shape.k)
            let bytes = 4.0 * Double(shape.m * shape.k + shape.k * shape.n + shape.m * shape.n)
            let baseline = flops / 7.5e9
            var result = ShapeResult(
                name: shape.name,
                parameters: "m=\(shape.m) n=\(shape.n) k=\(shape.k)",
                correct: nil,
                failure: nil,
                maxAbsError: nil,
                relL2Error: nil,
                checkedCalls: 0,
                baselineSeconds: nil,
                candidateSeconds: nil,
                speedup: nil,
                speedupLow: nil,
                speedupHigh: nil,
                pairs: 0,
                isNoisy: false,
                gflops: nil,
                fractionOfPeak: nil,
                flops: flops,
                bytes: bytes,
                notes: []
            )
            if let geomean {
                let speedup = geomean * spreads[index % spreads.count]
                let candidate = baseline / speedup
                result.correct = true
                result.maxAbsError = 3.1e-5 * Double(index + 1)
                result.relL2Error = 2.4e-7
                result.checkedCalls = 9
                result.baselineSeconds = baseline
                result.candidateSeconds = candidate
                result.speedup = speedup
                result.speedupLow = speedup * 0.96
                result.speedupHigh = speedup * 1.03
                result.pairs = 6
                result.isNoisy = index == 2
                result.notes = index == 2 ? ["the ratios' spread is 14% of their median"] : []
                result.gflops = flops / candidate / 1e9
                result.fractionOfPeak = flops / candidate / 1e9 / Self.machine.peakGflopsAll
                result.coresUsed = 1.93
                result.workerThreads = 2
                result.baselineCPUSeconds = baseline
                result.candidateCPUSeconds = candidate * 1.93
            } else if index == 0 {
                let reason = Self.failure(of: verdict)
                result.correct = verdict == .buildFailed ? nil : false
                result.failure = reason
                if verdict == .wrongResult {
                    result.maxAbsError = 0.84
                    result.relL2Error = 3.1e-2
                    result.checkedCalls = 1
                }
                failure = "shape '\(shape.name)': \(reason)"
            }
            shapeResults.append(result)
        }
        return EvaluationResult(
            correct: geomean != nil,
            verdict: geomean != nil ? .correct : verdict,
            failure: failure,
            geomeanSpeedup: geomean.map { isHeldout ? $0 * 0.95 : $0 },
            shapes: shapeResults,
            task: Self.taskName,
            candidate: "\(proposer == .tuner ? "tiled" : file(of: number)) #\(number)\(isHeldout ? " (held-out)" : "")",
            configuration: configuration,
            flags: ["-O3", "-march=native"] + (configuration.flagSet == 1 ? ["-funroll-loops"] : [])
                + configuration.defines,
            buildLog: verdict == .buildFailed && geomean == nil ? Self.failure(of: .buildFailed) : "",
            machine: Self.machine,
            contentHash: Self.hash(number * 2 + (isHeldout ? 1 : 0)),
            isCached: false,
            seed: 11 &+ UInt64(number),
            wallSeconds: 3.5 + 0.25 * Double(number % 4),
            measuredAt: Date()
        )
    }

    /// A content hash's 64 hex digits, made from a number.
    static func hash(_ number: Int) -> String {
        let digits = String(UInt64(truncatingIfNeeded: number) &* 0x9E37_79B9_7F4A_7C15, radix: 16)
        return String(repeating: "0", count: 64 - digits.count) + digits
    }

    /// What the harness says of a failure with this verdict.
    static func failure(of verdict: Verdict) -> String {
        switch verdict {
        case .buildFailed: "tiled.c:12:5: error: expected ';' before '}' token"
        case .wrongResult, .correct: "max abs error 0.84 exceeds 0.001 (relative L2 error 3.1e-02 exceeds 1e-05)"
        case .crashed: "the worker was killed by signal 11 (SIGSEGV)"
        case .timedOut: "a call ran past its deadline of 20 s; its process group was killed"
        case .integrityViolation: "the candidate modified an input buffer"
        }
    }

    // MARK: - The conversation (agent runs)

    /// The conversation's start: the first track, the system prompt and the first user message.
    var opening: [RunEvent] {
        [
            .trackStarted(name: Self.tracks[0].name, rationale: Self.tracks[0].rationale),
            .agent(
                .message(.system("You are Kiln's kernel engineer. (A synthetic conversation, written from values.)"))
            ),
            .agent(.message(.user("Begin. Your workspace:\nmatmul.h\nseeds/tiled.c"))),
        ]
    }

    /// One answer of the model: the request, its usage and cost, and what it said and called.
    func answer(turn: Int, text: String, calls: [ToolCall]) -> [RunEvent] {
        let usage = TokenUsage(input: 2400 + 900 * turn, output: 380)
        return [
            .agent(.request(messages: 2 + 3 * turn, estimatedTokens: 2300 + 900 * turn)),
            .agent(
                .response(usage: usage, finishReason: "tool_calls", cost: agentSettings.prices?.cost(of: usage) ?? 0)
            ),
            .agent(.message(.assistant(text: text, toolCalls: calls))),
        ]
    }

    /// The model writes a candidate's file and evaluates it; the write's result.
    func evaluationTurn(_ candidate: CandidateRecord) -> [RunEvent] {
        let path = candidate.file ?? "main.c"
        let write = ToolCall(
            id: "call-\(candidate.id)-write",
            name: "write_file",
            arguments: "{\"path\": \"\(path)\", \"content\": \"…\"}"
        )
        let evaluate = ToolCall(
            id: "call-\(candidate.id)-evaluate",
            name: "evaluate",
            arguments: "{\"path\": \"\(path)\", \"params\": {\"BM\": \(candidate.configuration.values["BM"] ?? "64")}}"
        )
        return answer(
            turn: candidate.id,
            text: "Trying candidate \(candidate.id) in \(path).",
            calls: [write, evaluate]
        )
            + [
                .agent(
                    .message(
                        .tool(
                            callID: write.id,
                            name: "write_file",
                            content: "wrote \(path) (\(source(of: candidate.id).utf8.count) bytes)"
                        )
                    )
                )
            ]
    }

    /// The evaluate call's result, as the model reads it.
    func toolResult(of candidate: CandidateRecord, result: EvaluationResult) -> RunEvent {
        let verdict =
            result.correct
            ? String(format: "correct · geometric-mean speedup %.2fx", result.geomeanSpeedup ?? 0)
            : "FAILED (\(result.verdict.rawValue)): \(result.failure ?? "")"
        return .agent(
            .message(
                .tool(
                    callID: "call-\(candidate.id)-evaluate",
                    name: "evaluate",
                    content: "candidate #\(candidate.id) (\(candidate.file ?? "?"), \(candidate.configuration.label))\n"
                        + verdict
                )
            )
        )
    }

    /// The model starts the second design track.
    func newTrack(turn: Int) -> [RunEvent] {
        let track = Self.tracks[1]
        let call = ToolCall(
            id: "call-\(turn)-track",
            name: "new_track",
            arguments: "{\"name\": \"\(track.name)\", \"rationale\": \"\(track.rationale)\"}"
        )
        return answer(turn: turn, text: "The first design has plateaued; a redesign.", calls: [call]) + [
            .trackStarted(name: track.name, rationale: track.rationale),
            .agent(
                .message(
                    .tool(
                        callID: call.id,
                        name: "new_track",
                        content:
                            "track '\(track.name)' started and current; its candidates will be labelled '\(track.name)'"
                    )
                )
            ),
        ]
    }

    /// The model calls finish; the run's conversation ends.
    func finishTurn(turn: Int) -> [RunEvent] {
        let summary = "The \(Self.tracks[1].name) design is the fastest; tuned its blocking."
        let call = ToolCall(id: "call-finish", name: "finish", arguments: "{\"summary\": \"\(summary)\"}")
        return answer(turn: turn, text: "Done.", calls: [call]) + [
            .agent(.message(.tool(callID: call.id, name: "finish", content: "finishing"))),
            .agent(.finished(summary)),
        ]
    }
}
