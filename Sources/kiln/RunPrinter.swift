import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask

/// How runs look in the terminal.
enum RunPrinter {
    static func progress(_ event: RunProgress) {
        switch event {
        case .evaluating(let candidate, let state):
            Terminal.progress(
                line(state) + " · evaluating #\(candidate.id) \(candidate.design) \(candidate.configuration.label)"
            )
        case .evaluated(let candidate, let result, let state):
            let verdict =
                result.correct
                ? (result.geomeanSpeedup.map { String(format: "%.2fx", $0) } ?? "correct (not timed)")
                    + (result.isCached ? " (cached)" : "")
                    + (result.comparison.map {
                        String(format: " · vs %@ %.2fx: %@", $0.rival, $0.ratio, $0.verdict.rawValue)
                    } ?? "")
                : "\(result.verdict.rawValue): \(result.failure ?? "")"
            if Terminal.isInteractive {
                Terminal.progress(line(state) + " · #\(candidate.id) \(verdict.prefix(60))")
            } else {
                Terminal.status(
                    line(state) + " · #\(candidate.id) \(candidate.design) \(candidate.configuration.label): \(verdict)"
                )
            }
        case .budgetExhausted(let budget):
            Terminal.clearProgress()
            Terminal.status("budget reached: \(budget)")
        case .checkingHeldout(let candidate):
            Terminal.clearProgress()
            Terminal.status("checking candidate #\(candidate) on the held-out shapes…")
        case .toolFinished(let name, let summary, let state):
            let line =
                RunPrinter.line(state)
                + " · calls \(state.agent.toolCalls) · \(name): \(summary.split(separator: "\n").first ?? "")"
            if Terminal.isInteractive { Terminal.progress(String(line.prefix(160))) } else { Terminal.status(line) }
        case .partFinished(let times):
            Terminal.clearProgress()
            if let line = bookkeeping(times) { Terminal.status(line) }
        }
    }

    /// The closing line of a part of a run: Kiln's own time, apart from evaluations and, in agent runs,
    /// the model and the workspace tools; nil for a part that took no time.
    static func bookkeeping(_ times: PartTimes) -> String? {
        guard times.wallSeconds > 0 else { return nil }
        var others = [String(format: "evaluations %.1f s", times.evaluationSeconds)]
        if times.modelSeconds > 0 { others.append(String(format: "waiting for the model %.1f s", times.modelSeconds)) }
        if times.toolSeconds > 0 { others.append(String(format: "shell and file tools %.1f s", times.toolSeconds)) }
        return String(
            format: "bookkeeping (journal, tuner, progress): %.2f s of %.1f s wall time (%.2f%%); ",
            times.bookkeepingSeconds,
            times.wallSeconds,
            times.bookkeepingSeconds / times.wallSeconds * 100
        ) + others.joined(separator: ", ")
    }

    /// A scripted model's request that did not meet its script (`--model scripted:FILE`).
    @Sendable static func scriptViolation(_ violation: String) {
        Terminal.clearProgress()
        Terminal.status("scripted model: \(violation)")
    }

    static func line(_ state: RunState) -> String {
        let elapsed = state.elapsed(now: Date())
        var parts = ["[\(clock(elapsed))]", "evals \(state.finishedEvaluations)"]
        if let max = state.settings?.maxEvaluations { parts[1] += "/\(max)" }
        parts.append(
            "best " + (state.bestSpeedup.map { String(format: "%.2fx", $0) } ?? "-")
                + (state.best.map { " (#\($0))" } ?? "")
        )
        if let max = state.settings?.maxSeconds { parts.append("\(clock(max - elapsed)) left") }
        return parts.joined(separator: " · ")
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(max(seconds, 0))
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }

    static func summary(id: String, state: RunState, store: RunStore) {
        let folder = store.folder(of: id)
        if state.isInterrupted && state.outcome == nil {
            Terminal.out(
                "run \(id) interrupted after \(state.finishedEvaluations) evaluations; continue it with: kiln resume \(id)"
            )
            Terminal.out("report so far: \(folder.appending(path: "report.html").relativePathForDisplay)")
            return
        }
        guard let outcome = state.outcome else {
            Terminal.out("run \(id) stopped; continue it with: kiln resume \(id)")
            return
        }
        Terminal.out(
            "run \(id): \(state.finishedEvaluations) evaluations in \(String(format: "%.1f", state.elapsed() / 60)) min (\(outcome.reason))"
        )
        if let winner = outcome.winner, let candidate = state.candidates[winner], let result = candidate.result {
            if let geomean = result.geomeanSpeedup {
                Terminal.out(
                    "best speedup: \(String(format: "%.2fx", geomean)) over the baseline (geometric mean over \(result.shapes.count) shapes), candidate #\(winner) \(candidate.record.design) \(candidate.record.configuration.label)"
                )
            } else {
                Terminal.out(
                    "winner: candidate #\(winner) \(candidate.record.design) \(candidate.record.configuration.label), correct on all \(result.shapes.count) shapes; \(result.timingUnavailable ?? "not timed"), so the first correct candidate wins"
                )
            }
            Terminal.out(
                "held-out shapes: \(candidate.heldout.map { $0.correct ? "passed" : "failed" } ?? "none in this task")"
            )
            if let best = outcome.best, best != winner {
                Terminal.out(
                    "note: the fastest candidate #\(best) failed the held-out shapes; #\(winner) is the best that passes"
                )
            }
        } else if let best = outcome.best {
            Terminal.out("no candidate passed the held-out shapes; the fastest on the suite was #\(best)")
        } else {
            Terminal.out("no correct candidate was found")
        }
        if let file = outcome.winnerFile {
            Terminal.out("winner: \(folder.appending(path: file).relativePathForDisplay)")
        }
        if let file = outcome.reportFile {
            Terminal.out("report: \(folder.appending(path: file).relativePathForDisplay)")
        }
    }
}
