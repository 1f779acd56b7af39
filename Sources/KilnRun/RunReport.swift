import Foundation
import KilnHarness
import KilnTask

/// A run's report: a self-contained HTML page (inline SVG charts, no scripts, no network) and a
/// Markdown summary, both built from the journal's state alone.
package struct RunReport: Sendable {
    /// The run's state.
    package let state: RunState
    /// The run's id.
    package let runID: String

    /// Creates a report.
    /// - Parameters:
    ///   - state: the run's state.
    ///   - runID: its id.
    package init(state: RunState, runID: String) {
        self.state = state
        self.runID = runID
        evaluated = state.order.compactMap { state.candidates[$0] }.filter { $0.result != nil }
    }

    private var settings: RunSettings? { state.settings }
    private var winner: RunState.Candidate? { state.outcome?.winner.flatMap { state.candidates[$0] } }
    private var bestCandidate: RunState.Candidate? {
        winner ?? state.best.flatMap { state.candidates[$0] }
    }

    /// The evaluated candidates in order (collected once: every part of the report reads them).
    private let evaluated: [RunState.Candidate]

    /// How many evaluations ran without Kiln's sandbox (`--unsafe-no-sandbox`).
    private var unsandboxed: Int { evaluated.filter { $0.result?.isSandboxed == false }.count }

    private var unsandboxedWarning: String {
        "UNSANDBOXED: \(unsandboxed) of \(evaluated.count) evaluations ran without Kiln's sandbox (--unsafe-no-sandbox); their figures could have been forged"
    }

    private var status: String {
        if let outcome = state.outcome {
            switch outcome.reason {
            case "budget": return "finished: budget reached (\(state.exhaustedBudgets.joined(separator: ", ")))"
            case "exhausted": return "finished: search space exhausted"
            case "finished": return "finished: the model called finish"
            default: return "finished (\(outcome.reason))"
            }
        }
        return state.isInterrupted ? "interrupted (resumable)" : "in progress or stopped (resumable)"
    }

    /// Best speedup after each evaluation, and when.
    private var progression: (byEvaluation: [(x: Double, y: Double)], byMinute: [(x: Double, y: Double)]) {
        var best = 0.0
        var byEvaluation: [(x: Double, y: Double)] = []
        var byMinute: [(x: Double, y: Double)] = []
        let start = state.startedAt ?? Date()
        for (index, candidate) in evaluated.enumerated() {
            guard let result = candidate.result, result.correct, let speedup = result.geomeanSpeedup, speedup > best
            else { continue }
            best = speedup
            byEvaluation.append((Double(index + 1), speedup))
            byMinute.append(((candidate.finishedAt ?? start).timeIntervalSince(start) / 60, speedup))
        }
        // The best so far holds until the run's end: draw the step out to it.
        if let last = byMinute.last { byMinute.append((max(state.elapsed() / 60, last.x), last.y)) }
        if let last = byEvaluation.last { byEvaluation.append((Double(max(evaluated.count, Int(last.x))), last.y)) }
        return (byEvaluation, byMinute)
    }

    // MARK: - Markdown

    /// The Markdown summary.
    /// - Returns: the text.
    package func markdown() -> String {
        var out: [String] = []
        out.append("# Kiln run \(runID)")
        out.append("")
        out.append("- task: \(settings?.taskName ?? "?") (\(settings?.taskPath ?? "?"))")
        out.append(
            "- proposer: \(settings?.proposer ?? "?"), strategy \(settings?.strategy ?? "?"), seed \(settings?.seed ?? 0)"
        )
        out.append("- status: \(status)")
        if unsandboxed > 0 { out.append("- **\(unsandboxedWarning)**") }
        out.append(
            "- evaluations: \(state.finishedEvaluations)\(settings?.maxEvaluations.map { " of \($0)" } ?? ""), wall time \(minutes(state.elapsed())) min\(settings?.maxSeconds.map { " of \(minutes($0)) min" } ?? "")"
        )
        if let best = bestCandidate, let result = best.result {
            out.append(
                "- best: candidate #\(best.record.id) (\(best.record.design), \(best.record.configuration.label)), \(result.geomeanSpeedup.map { "geometric-mean speedup \(fixed($0))x over the baseline" } ?? "correct, not timed (\(result.timingUnavailable ?? "correctness only"))")"
            )
            out.append("- held-out shapes: \(heldoutText(best))")
            if let measured = nodeText(best) { out.append("- measured on: \(measured)") }
            if let line = remeasuredText(best) { out.append("- \(line)") }
            if let file = state.outcome?.winnerFile { out.append("- winner file: \(file)") }
            out.append("")
            out.append("## Winner per shape")
            out.append("")
            out.append("| shape | speedup | IQR | baseline | candidate | GFLOP/s | of peak | GB/s | of roofline |")
            out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for shape in result.shapes {
                out.append(
                    "| \(shape.name) | \(shape.speedup.map { fixed($0) + "x" } ?? "-") | \(iqr(shape)) | \(shape.baselineSeconds.map(duration) ?? "-") | \(shape.candidateSeconds.map(duration) ?? "-") | \(shape.gflops.map { String(format: "%.1f", $0) } ?? "-") | \(shape.fractionOfPeak.map { String(format: "%.1f%%", $0 * 100) } ?? "-") | \(gbs(shape)) | \(roofline(shape)) |"
                )
            }
            if let load = result.load {
                out.append("")
                out.append("Machine load while the winner was measured: \(load.note)")
            }
        } else {
            out.append("- no correct candidate yet")
        }
        out.append("")
        out.append("## Leaderboard")
        out.append("")
        out.append("| rank | candidate | design | configuration | speedup | evaluated |")
        out.append("| ---: | ---: | --- | --- | ---: | --- |")
        for (rank, row) in state.rankedCandidates.prefix(10).enumerated() {
            let candidate = row.candidate
            out.append(
                "| \(rank + 1) | #\(candidate.record.id) | \(candidate.record.design) | \(candidate.record.configuration.label) | \(candidate.result?.speedupLabel ?? "-") | \(timesEvaluated(row)) |"
            )
        }
        out.append("")
        let nodes = nodeRows()
        if !nodes.isEmpty {
            out.append("## Nodes")
            out.append("")
            out.append("| node | kind | evaluations measured |")
            out.append("| --- | --- | ---: |")
            for node in nodes { out.append("| \(node.name) | \(node.kind) | \(node.count) |") }
            out.append("")
        }
        let explored = explored()
        if !explored.lines.isEmpty {
            out.append("## \(explored.title)")
            out.append("")
            for line in explored.lines { out.append("- \(line)") }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    // MARK: - HTML

    /// The HTML page.
    /// - Returns: the page.
    package func html() -> String {
        Self.document(title: "Kiln run \(esc(runID))", body: fragment(), footer: footer)
    }

    private var footer: String {
        "<p class=\"note\">Written by Kiln \(esc(settings?.kilnVersion ?? "")) from the run's journal. Speedups are the baseline's time over the candidate's, each the lower decile of interleaved calls on fresh inputs, every candidate call checked against the oracle.</p>"
    }

    /// The page's content without the document around it (the dashboard embeds it).
    /// - Returns: HTML.
    package func fragment() -> String {
        let progression = progression
        let all = evaluated.enumerated().compactMap { index, candidate -> (x: Double, y: Double)? in
            guard let speedup = candidate.result?.geomeanSpeedup else { return nil }
            return (Double(index + 1), speedup)
        }
        var body = ""
        body += "<h1>Kiln run <code>\(esc(runID))</code></h1>"
        body +=
            "<p class=\"sub\">task <b>\(esc(settings?.taskName ?? "?"))</b> · proposer \(esc(settings?.proposer ?? "?")) (strategy \(esc(settings?.strategy ?? "?")), seed \(settings?.seed ?? 0)) · \(esc(status))</p>"
        if unsandboxed > 0 { body += "<p class=\"warn\"><b>\(esc(unsandboxedWarning))</b></p>" }
        body += "<div class=\"cards\">"
        body += card("best speedup", bestCandidate?.result?.geomeanSpeedup.map { fixed($0) + "x" } ?? "—")
        body += card("held-out", bestCandidate.map(heldoutText) ?? "—")
        body += card(
            "evaluations",
            "\(state.finishedEvaluations)\(settings?.maxEvaluations.map { " / \($0)" } ?? "")"
        )
        body += card(
            "wall time",
            "\(minutes(state.elapsed())) min\(settings?.maxSeconds.map { " / \(minutes($0))" } ?? "")"
        )
        body += "</div>"
        body += "<h2>Best speedup over evaluations</h2>"
        body += SVGChart.lines(
            [
                .init(points: all, color: "#b8c4d6", isStep: false, showsDots: true, drawsLine: false),
                .init(points: progression.byEvaluation, color: "#c2410c", isStep: true),
            ],
            xLabel: "evaluation",
            yLabel: "speedup (x)"
        )
        body += "<p class=\"note\">grey: every correct evaluation; orange: the best so far.</p>"
        body += "<h2>Best speedup over time</h2>"
        body += SVGChart.lines(
            [.init(points: progression.byMinute, color: "#c2410c", isStep: true)],
            xLabel: "minutes",
            yLabel: "speedup (x)"
        )
        if let best = bestCandidate, let result = best.result {
            body +=
                "<h2>Winner: candidate #\(best.record.id) <small>\(esc(best.record.design)) · \(esc(best.record.configuration.label))</small></h2>"
            if let measured = nodeText(best) { body += "<p>measured on \(esc(measured))</p>" }
            body += SVGChart.bars(
                result.shapes.compactMap { shape in shape.speedup.map { (shape.name, $0) } },
                unit: "x"
            )
            body +=
                "<table><tr><th>shape</th><th>speedup</th><th>IQR</th><th>baseline</th><th>candidate</th><th>GFLOP/s</th><th>of peak</th><th>GB/s</th><th>of roofline</th><th>max abs err</th></tr>"
            for shape in result.shapes {
                body +=
                    "<tr><td>\(esc(shape.name))</td><td>\(shape.speedup.map { fixed($0) + "x" } ?? "-")</td><td>\(iqr(shape))</td><td>\(shape.baselineSeconds.map(duration) ?? "-")</td><td>\(shape.candidateSeconds.map(duration) ?? "-")</td><td>\(shape.gflops.map { String(format: "%.1f", $0) } ?? "-")</td><td>\(shape.fractionOfPeak.map { String(format: "%.1f%%", $0 * 100) } ?? "-")</td><td>\(gbs(shape))</td><td>\(esc(roofline(shape)))</td><td>\(shape.maxAbsError.map { String(format: "%.1e", $0) } ?? "-")</td></tr>"
            }
            body += "</table>"
            if let load = result.load {
                body += "<p>Machine load while the winner was measured: \(esc(load.note))</p>"
            }
            if let line = remeasuredText(best) { body += "<p>\(esc(line))</p>" }
            body += "<h3>Held-out shapes</h3>"
            if let heldout = best.heldout {
                body +=
                    "<p>\(heldout.correct ? "passed" : "<b class=\"bad\">failed</b>: \(esc(heldout.failure ?? ""))")\(heldout.geomeanSpeedup.map { " · geometric-mean speedup \(fixed($0))x" } ?? "")</p>"
                body += "<table><tr><th>shape</th><th class=\"l\">parameters</th><th>correct</th><th>speedup</th></tr>"
                for shape in heldout.shapes {
                    body +=
                        "<tr><td>\(esc(shape.name))</td><td class=\"mono\">\(esc(shape.parameters))</td><td>\(shape.correct == true ? "yes" : shape.correct == false ? "<b class=\"bad\">no</b>" : "-")</td><td>\(shape.speedup.map { fixed($0) + "x" } ?? "-")</td></tr>"
                }
                body += "</table>"
            } else {
                body += "<p>\(esc(heldoutText(best)))</p>"
            }
        }
        body +=
            "<h2>Leaderboard</h2><table><tr><th>rank</th><th>candidate</th><th>design</th><th class=\"l\">configuration</th><th>speedup</th><th class=\"l\">evaluated</th></tr>"
        for (rank, row) in state.rankedCandidates.prefix(10).enumerated() {
            let candidate = row.candidate
            body +=
                "<tr><td>\(rank + 1)</td><td>#\(candidate.record.id)</td><td>\(esc(candidate.record.design))</td><td class=\"mono\">\(esc(candidate.record.configuration.label))</td><td>\(fixed(candidate.result?.geomeanSpeedup ?? 0))x</td><td class=\"l\">\(esc(timesEvaluated(row)))</td></tr>"
        }
        body += "</table>"
        let nodes = nodeRows()
        if !nodes.isEmpty {
            body +=
                "<h2>Nodes</h2><table><tr><th class=\"l\">node</th><th class=\"l\">kind</th><th>evaluations</th></tr>"
            for node in nodes {
                body +=
                    "<tr><td class=\"mono\">\(esc(node.name))</td><td class=\"l\">\(esc(node.kind))</td><td>\(node.count)</td></tr>"
            }
            body += "</table>"
        }
        let explored = explored()
        if !explored.lines.isEmpty {
            body += "<h2>\(esc(explored.title))</h2><ul>"
            for line in explored.lines { body += "<li>\(esc(line))</li>" }
            body += "</ul>"
        }
        if let machine = settings?.machine {
            body +=
                "<h2>Machine</h2><p>\(esc(machine.cpuModel)) · \(machine.threads) threads · measured fp32 peak \(String(format: "%.0f", machine.peakGflopsAll)) GFLOP/s (\(String(format: "%.0f", machine.peakGflops1)) on one core) · triad \(String(format: "%.1f", machine.bandwidthGbsAll)) GB/s\(machine.theoreticalPeak.map { " · bound \(String(format: "%.0f", $0.gflops)) GFLOP/s in theory" } ?? "")\(machine.suspectReason.map { " · <b class=\"bad\">suspect profile</b>: \(esc($0))" } ?? "")</p>"
        }
        return body
    }

    /// A complete page with Kiln's report styles around `body`.
    /// - Parameters:
    ///   - title: the page title.
    ///   - body: the content.
    ///   - footer: a closing note.
    /// - Returns: the page.
    package static func document(title: String, body: String, footer: String = "") -> String {
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(SVGChart.escape(title))</title>
            <style>
            body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#1f2937}
            h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
            h2 small{font-weight:normal;color:#6b7280;font-size:14px}
            .sub{color:#4b5563;margin-top:0} .cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
            .card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:150px}
            .card .k{color:#6b7280;font-size:12px;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:20px;font-weight:600}
            table{border-collapse:collapse;width:100%;margin:8px 0}th,td{padding:4px 8px;border-bottom:1px solid #f0f0f0;text-align:right}
            th:first-child,td:first-child,th.l{text-align:left} .mono{font-family:ui-monospace,monospace;font-size:13px;text-align:left}
            .chart{width:100%;height:auto;font-size:11px;fill:#374151} .chart .grid{stroke:#eef0f3} .chart .axis{stroke:#9ca3af}
            .chart .bar{fill:#ea580c} .chart .label{font-size:12px;fill:#4b5563} .note{color:#6b7280;font-size:13px} .warn{color:#b91c1c;border:1px solid #b91c1c;padding:6px 10px;border-radius:6px}
            .bad{color:#b91c1c} .empty{color:#9ca3af}
            </style></head><body>
            \(body)
            \(footer)
            </body></html>
            """
    }

    // MARK: - Pieces

    /// What the run explored: per seed design, its configurations (tuner runs); per design track, its
    /// candidates (runs whose candidates are proposed, such as agent and MCP runs). No lines when nothing
    /// was evaluated.
    private func explored() -> (title: String, lines: [String]) {
        guard let settings else { return ("", []) }
        func failures(_ candidates: [RunState.Candidate]) -> String {
            var failures: [String: Int] = [:]
            for candidate in candidates where candidate.result?.correct == false {
                failures[candidate.result?.verdict.rawValue ?? "?", default: 0] += 1
            }
            return failures.sorted { $0.key < $1.key }.map { ", \($0.value) \($0.key)" }.joined()
        }
        guard settings.designs.isEmpty else {
            let lines = settings.designs.map { design in
                let mine = evaluated.filter { $0.record.design == design.name }
                let correct = mine.count { $0.result?.correct == true }
                return
                    "\(design.name): \(mine.count) of \(design.spaceSize) configurations evaluated, \(correct) correct\(failures(mine))"
            }
            return ("Search space explored", lines)
        }
        var designs: [String] = []
        for candidate in evaluated where !designs.contains(candidate.record.design) {
            designs.append(candidate.record.design)
        }
        let lines = designs.map { design in
            let mine = evaluated.filter { $0.record.design == design }
            let correct = mine.count { $0.result?.correct == true }
            let partial = mine.count { $0.record.shapes != nil }
            let sources = Set(mine.compactMap(\.record.source)).count
            return
                "\(design): \(mine.count) evaluation\(mine.count == 1 ? "" : "s") of \(sources) distinct source\(sources == 1 ? "" : "s"), \(correct) correct\(failures(mine))\(partial > 0 ? ", \(partial) on part of the suite (not ranked)" : "")"
        }
        return ("Design tracks explored", lines)
    }

    /// The end-of-run measurement of the leader beside the runner-up, in words; nil when there was none.
    /// It concerns the winner, or the leader it replaced by measuring worse beside it.
    private func remeasuredText(_ winner: RunState.Candidate) -> String? {
        let measured =
            winner.remeasured.map { (winner.record.id, $0) }
            ?? state.candidates.values.compactMap { candidate in candidate.remeasured.map { (candidate.record.id, $0) }
            }
            .first
        guard let (id, result) = measured else { return nil }
        guard let comparison = result.comparison else {
            return "#\(id) was measured again at the end (\(result.speedupLabel)) but not compared: "
                + (result.shapes.flatMap(\.notes).first { $0.hasPrefix("no comparison") } ?? "no rival timed")
        }
        return "#\(id) was measured again at the end beside \(comparison.rival), in the same pairs: "
            + (result.geomeanSpeedup.map { String(format: "%.2fx over the baseline; ", $0) } ?? "")
            + comparison.summary
    }

    /// How many times a leaderboard row's candidate was evaluated on the full suite, and the spread.
    private func timesEvaluated(_ row: RunState.RankedCandidate) -> String {
        guard row.evaluations > 1, let low = row.speedups.min(), let high = row.speedups.max() else { return "once" }
        return low == high
            ? "\(row.evaluations) times (each \(fixed(low))x)"
            : "\(row.evaluations) times (\(fixed(low))-\(fixed(high))x)"
    }

    /// The cluster nodes that measured the run's results: each once, with its kind and how many.
    private func nodeRows() -> [(name: String, kind: String, count: Int)] {
        var rows: [(name: String, kind: String, count: Int)] = []
        for result in state.order.compactMap({ state.candidates[$0]?.result }) {
            guard let node = result.node else { continue }
            if let index = rows.firstIndex(where: { $0.name == node.name }) {
                rows[index].count += 1
            } else {
                rows.append((node.name, result.nodeKind, 1))
            }
        }
        return rows
    }

    /// Where a candidate's suite result was measured, and its re-measurement on the reference kind; nil
    /// for results measured where Kiln ran.
    private func nodeText(_ candidate: RunState.Candidate) -> String? {
        guard let result = candidate.result, let node = result.node else { return nil }
        var text = "node \(node.name) (\(result.nodeKind))"
        if let reference = candidate.reference {
            text +=
                "; re-measured on the reference kind \(reference.nodeKind)\(reference.node.map { " (node \($0.name))" } ?? ""): \(reference.speedupLabel)"
        } else if let kind = state.outcome?.referenceKind, kind == result.nodeKind {
            text += ", the run's reference kind"
        }
        return text
    }

    private func heldoutText(_ candidate: RunState.Candidate) -> String {
        guard let heldout = candidate.heldout else {
            return state.outcome == nil ? "checked at the end of the run" : "not checked"
        }
        return heldout.correct
            ? "passed\(heldout.geomeanSpeedup.map { " (\(fixed($0))x)" } ?? "")" : "failed: \(heldout.failure ?? "")"
    }

    private func card(_ key: String, _ value: String) -> String {
        "<div class=\"card\"><div class=\"k\">\(esc(key))</div><div class=\"v\">\(esc(value))</div></div>"
    }

    private func gbs(_ shape: ShapeResult) -> String {
        shape.achievedGbs.map { String(format: "%.1f", $0) } ?? "-"
    }

    private func roofline(_ shape: ShapeResult) -> String {
        guard let fraction = shape.fractionOfRoofline else { return "-" }
        return String(format: "%.0f%%", fraction * 100) + (shape.isMemoryBound == true ? " (memory)" : "")
    }

    private func iqr(_ shape: ShapeResult) -> String {
        guard let low = shape.speedupLow, let high = shape.speedupHigh else { return "-" }
        return "\(fixed(low))-\(fixed(high))" + (shape.isNoisy ? " noisy" : "")
    }

    private func esc(_ text: String) -> String { SVGChart.escape(text) }
    private func fixed(_ value: Double) -> String { String(format: "%.2f", value) }
    private func minutes(_ seconds: Double) -> String { String(format: "%.1f", seconds / 60) }
    private func duration(_ seconds: Double) -> String {
        seconds >= 1
            ? String(format: "%.2f s", seconds)
            : seconds >= 1e-3
                ? String(format: "%.2f ms", seconds * 1e3) : String(format: "%.1f us", seconds * 1e6)
    }
}
