import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask

/// The JSON shapes of the dashboard's API (documented in docs/API.md).
enum DashboardAPI {
    struct LeaderboardEntry: Encodable {
        var candidate: Int
        var design: String
        var file: String?
        var configuration: String
        var speedup: Double?
    }

    struct Track: Encodable {
        var name: String
        var rationale: String
        var isCurrent: Bool
    }

    struct Budgets: Encodable {
        var evaluations: Int
        var maxEvaluations: Int?
        var elapsedSeconds: Double
        var maxSeconds: Double?
        var toolCalls: Int
        var maxToolCalls: Int?
        var tokens: Int
        var maxTokens: Int?
        var dollars: Double
        var maxDollars: Double?
    }

    struct RunDetail: Encodable {
        var id: String
        var task: String
        var proposer: String
        var status: String
        var bestSpeedup: Double?
        var best: Int?
        var winner: Int?
        var bestShapes: [ShapeResult]
        var leaderboard: [LeaderboardEntry]
        var tracks: [Track]
        var budgets: Budgets
        var progress: [Point]
        var lastEvents: [EventLine]
        var lastSequence: Int

        struct Point: Encodable {
            var evaluation: Int
            var seconds: Double
            var speedup: Double
        }

        init(id: String, state: RunState) {
            let settings = state.settings
            self.id = id
            task = settings?.taskName ?? "?"
            proposer = settings?.proposer ?? "?"
            status =
                state.outcome != nil ? "finished" : state.isInterrupted ? "interrupted" : "running or stopped"
            bestSpeedup = state.bestSpeedup
            best = state.best
            winner = state.outcome?.winner
            bestShapes = (state.outcome?.winner ?? state.best).flatMap { state.candidates[$0]?.result?.shapes } ?? []
            leaderboard = state.leaderboard.prefix(20).map { candidate in
                LeaderboardEntry(
                    candidate: candidate.record.id,
                    design: candidate.record.design,
                    file: candidate.record.file,
                    configuration: candidate.record.configuration.label,
                    speedup: candidate.result?.geomeanSpeedup
                )
            }
            tracks = state.tracks.map {
                Track(name: $0.name, rationale: $0.rationale, isCurrent: $0.name == state.currentTrack)
            }
            budgets = Budgets(
                evaluations: state.finishedEvaluations,
                maxEvaluations: settings?.maxEvaluations,
                elapsedSeconds: state.elapsed(),
                maxSeconds: settings?.maxSeconds,
                toolCalls: state.agent.toolCalls,
                maxToolCalls: settings?.agent?.budgets.toolCalls,
                tokens: state.agent.inputTokens + state.agent.outputTokens,
                maxTokens: settings?.agent?.budgets.tokens,
                dollars: state.agent.cost,
                maxDollars: settings?.agent?.budgets.dollars
            )
            var points: [Point] = []
            var index = 0
            var bestSoFar = 0.0
            for candidate in state.order.compactMap({ state.candidates[$0] }) where candidate.result != nil {
                index += 1
                guard candidate.record.shapes == nil, let speedup = candidate.result?.geomeanSpeedup,
                    speedup > bestSoFar
                else { continue }
                bestSoFar = speedup
                let seconds = (candidate.finishedAt ?? Date()).timeIntervalSince(state.startedAt ?? Date())
                points.append(Point(evaluation: index, seconds: seconds, speedup: speedup))
            }
            progress = points
            lastEvents = []
            lastSequence = state.lastSequence
        }
    }

    struct EventLine: Encodable {
        var sequence: Int
        var at: Date
        var kind: String
        var candidate: Int?

        init(_ entry: Journal.Entry) {
            sequence = entry.sequence
            at = entry.date
            kind = entry.event.kind
            switch entry.event {
            case .candidateCreated(let record): candidate = record.id
            case .evaluationStarted(let id), .evaluationFinished(let id, _), .bestImproved(let id, _),
                .heldoutChecked(let id, _), .winnerRemeasured(let id, _):
                candidate = id
            default: candidate = nil
            }
        }
    }

    struct CandidateDetail: Encodable {
        var id: Int
        var design: String
        var file: String?
        var configuration: String
        var parent: Int?
        var source: String?
        var diffAgainstParent: String?
        var result: EvaluationResult?

        init(candidate: RunState.Candidate, state: RunState) {
            id = candidate.record.id
            design = candidate.record.design
            file = candidate.record.file
            configuration = candidate.record.configuration.label
            parent = candidate.record.parent
            source = state.settings?.sourceText(of: candidate.record)
            let parentSource = candidate.record.parent.flatMap { state.candidates[$0] }.flatMap {
                state.settings?.sourceText(of: $0.record)
            }
            diffAgainstParent = zip2(parentSource, source).map { LineDiff.unified(old: $0.0, new: $0.1) }
            result = candidate.result
        }
    }
}

private func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
