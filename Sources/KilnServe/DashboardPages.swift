import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask

/// The dashboard's HTML pages: the runs list, one run's live page, and a candidate's source.
enum DashboardPages {
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func runsList(_ runs: [RunSummary], tokenQuery: String) -> String {
        var body = "<h1>Kiln runs</h1>"
        if runs.isEmpty {
            body += "<p class=\"empty\">No runs yet. Start one with <code>kiln run TASK</code>.</p>"
        } else {
            body +=
                "<table id=\"runs\"><tr><th>run</th><th>task</th><th>proposer</th><th>status</th><th>elapsed</th><th>evaluations</th><th>tool calls</th><th>best</th></tr>"
            for run in runs.reversed() {
                body +=
                    "<tr><td class=\"mono\"><a href=\"/runs/\(escape(run.id))\(tokenQuery)\">\(escape(run.id))</a></td>"
                    + "<td>\(escape(run.task))</td><td class=\"mono\">\(escape(run.proposer))</td><td>\(escape(run.status))</td>"
                    + "<td>\(String(format: "%.1f min", run.elapsedSeconds / 60))</td><td>\(run.evaluations)</td>"
                    + "<td>\(run.toolCalls)</td><td>\(run.bestSpeedup.map { String(format: "%.2fx", $0) } ?? "—")</td></tr>"
            }
            body += "</table>"
        }
        body += "<p class=\"note\">Served from the journals in the runs folder; JSON at <code>/api/runs</code>.</p>"
        return RunReport.document(title: "Kiln runs", body: body)
    }

    /// The part of a run's page that changes as the run goes: everything under `#live`.
    static func liveFragment(
        id: String,
        state: RunState,
        recent: [Journal.Entry],
        executor: ExecutorStatus? = nil,
        tokenQuery: String
    ) -> String {
        let report = RunReport(state: state, runID: id)
        var extra = ""
        let settings = state.settings
        extra += executorSection(state: state, status: state.outcome == nil && !state.isInterrupted ? executor : nil)
        extra += "<h2>Budgets used</h2><ul>"
        extra +=
            "<li>evaluations: \(state.finishedEvaluations)\(settings?.maxEvaluations.map { " of \($0)" } ?? "")</li>"
        extra +=
            "<li>wall time: \(String(format: "%.1f", state.elapsed() / 60)) min\(settings?.maxSeconds.map { String(format: " of %.1f", $0 / 60) } ?? "")</li>"
        if let agent = settings?.agent {
            extra += "<li>tool calls: \(state.agent.toolCalls)\(agent.budgets.toolCalls.map { " of \($0)" } ?? "")</li>"
            extra +=
                "<li>tokens: \(state.agent.inputTokens + state.agent.outputTokens)\(agent.budgets.tokens.map { " of \($0)" } ?? "")</li>"
            extra +=
                "<li>money: \(String(format: "$%.2f", state.agent.cost))\(agent.budgets.dollars.map { String(format: " of $%.2f", $0) } ?? "")</li>"
            extra += "<li>compactions: \(state.agent.compactions)</li>"
        }
        extra += "</ul>"
        extra +=
            "<h2>Latest journal events</h2><table><tr><th>#</th><th class=\"l\">time</th><th class=\"l\">event</th><th class=\"l\">detail</th></tr>"
        let formatter = ISO8601DateFormatter()
        for entry in recent.reversed() {
            extra +=
                "<tr><td>\(entry.sequence)</td><td class=\"mono\">\(formatter.string(from: entry.date))</td><td class=\"mono\">\(escape(entry.event.kind))</td><td class=\"mono\">\(escape(detail(of: entry.event)))</td></tr>"
        }
        extra += "</table>"
        if !state.tracks.isEmpty {
            extra += "<h2>Design tracks</h2><ul>"
            for track in state.tracks {
                extra +=
                    "<li><b>\(escape(track.name))</b>\(track.name == state.currentTrack ? " (current)" : ""): \(escape(track.rationale))</li>"
            }
            extra += "</ul>"
        }
        let hasNodes = state.candidates.values.contains { $0.result?.node != nil }
        extra +=
            "<h2>Candidates</h2><table><tr><th>#</th><th>design</th><th class=\"l\">configuration</th><th>result</th>"
            + (hasNodes ? "<th class=\"l\">node</th>" : "") + "</tr>"
        for candidate in state.order.suffix(40).reversed().compactMap({ state.candidates[$0] }) {
            let result =
                candidate.result.map { result in
                    result.speedupLabel
                        + (result.comparison.map {
                            " · vs \($0.rival) \(String(format: "%.2fx", $0.ratio)) \($0.verdict.rawValue)"
                        }
                            ?? "")
                        + (result.load?.isBusy == true ? " · busy machine" : "")
                } ?? "evaluating…"
            let node = hasNodes ? "<td class=\"mono\">\(escape(candidate.result?.node?.name ?? ""))</td>" : ""
            extra +=
                "<tr><td><a href=\"/runs/\(escape(id))/candidates/\(candidate.record.id)\(tokenQuery)\">#\(candidate.record.id)</a></td>"
                + "<td>\(escape(candidate.record.design))</td><td class=\"mono\">\(escape(candidate.record.configuration.label))</td><td>\(escape(result))</td>\(node)</tr>"
        }
        extra += "</table>"
        return report.fragment() + extra
    }

    /// Where the run's evaluations run: the executor's slots per node and in use, and the evaluations in
    /// flight (from the journal: started, not finished); empty for a run evaluated here and not running.
    static func executorSection(state: RunState, status: ExecutorStatus?) -> String {
        let inFlight = state.pendingCandidates.filter(\.isStarted).map { "#\($0.record.id)" }
        guard status != nil || state.settings?.executor != nil else { return "" }
        var html = "<h2>Executor</h2><p>\(escape(status?.executor ?? state.settings?.executor ?? "local"))"
        if let parallelism = state.settings?.parallelism { html += " · \(parallelism) evaluations at a time" }
        html +=
            " · in flight: \(inFlight.isEmpty ? "none" : inFlight.joined(separator: ", "))</p>"
        guard let status else { return html }
        html +=
            "<table><tr><th class=\"l\">node</th><th class=\"l\">address</th><th>slots</th><th>in use</th><th>alive</th></tr>"
        for node in status.nodes {
            html +=
                "<tr><td class=\"mono\">\(escape(node.name))</td><td class=\"mono\">\(escape(node.address))</td><td>\(node.slots)</td><td>\(node.inUse)</td><td>\(node.isAlive ? "yes" : "no")</td></tr>"
        }
        let formatter = ISO8601DateFormatter()
        html +=
            "</table><p class=\"note\">slots in use: \(status.nodes.reduce(0) { $0 + $1.inUse }) of \(status.nodes.reduce(0) { $0 + $1.slots }) · as of \(formatter.string(from: status.updatedAt))</p>"
        return html
    }

    /// A run's page. Its script follows the run's stream, which carries the new `#live` fragment
    /// with each update (rendered once per journal event for every viewer), so an open page stays
    /// current without fetching anything.
    static func runPage(id: String, state: RunState, live: String, tokenQuery: String) -> String {
        let tokenParameter = tokenQuery.isEmpty ? "" : "&" + tokenQuery.dropFirst()
        let streamURL = "/api/runs/\(escape(id))/stream?after=\(state.lastSequence)&html=1\(tokenParameter)"
        let script = """
            <script>
            (function () {
              var last = \(state.lastSequence);
              var source = new EventSource("\(streamURL)");
              source.addEventListener("update", function (event) {
                var update = JSON.parse(event.data);
                if (update.seq <= last) { return; }
                last = update.seq;
                if (typeof update.html === "string") { document.getElementById("live").innerHTML = update.html; }
                document.getElementById("seq").textContent = String(update.seq);
              });
            })();
            </script>
            """
        let body =
            "<p class=\"sub\"><a href=\"/\(tokenQuery)\">all runs</a> · journal event <span id=\"seq\">\(state.lastSequence)</span> · updates live</p>"
            + "<div id=\"live\">\(live)</div>" + script
        return RunReport.document(title: "Kiln run \(id)", body: body)
    }

    static func candidatePage(id: String, candidate: RunState.Candidate, state: RunState, tokenQuery: String) -> String
    {
        let source = state.settings?.sourceText(of: candidate.record) ?? "(source unknown)"
        let parent = candidate.record.parent.flatMap { state.candidates[$0] }
        var body = "<p class=\"sub\"><a href=\"/runs/\(escape(id))\(tokenQuery)\">run \(escape(id))</a></p>"
        body +=
            "<h1>Candidate #\(candidate.record.id) <small>\(escape(candidate.record.design)) · \(escape(candidate.record.configuration.label))</small></h1>"
        if let result = candidate.result {
            body +=
                "<p>\(result.correct ? "correct · \(result.speedupLabel)" : "\(escape(result.verdict.rawValue)): \(escape(result.failure ?? ""))")</p>"
            if let comparison = result.comparison {
                body +=
                    "<p>timed beside \(escape(comparison.rival)) in the same pairs: \(escape(comparison.summary))</p>"
            }
            if let load = result.load { body += "<p>load: \(escape(load.note))</p>" }
        }
        if let parent {
            let changes = configurationChanges(from: parent.record.configuration, to: candidate.record.configuration)
            if !changes.isEmpty {
                body +=
                    "<h2>Configuration against its parent #\(parent.record.id)</h2><p class=\"mono\">\(escape(changes.joined(separator: " · ")))</p>"
            }
        }
        if let parent, let parentSource = state.settings?.sourceText(of: parent.record) {
            body +=
                "<h2>Diff against its parent #\(parent.record.id)</h2><pre class=\"diff\">\(escape(LineDiff.unified(old: parentSource, new: source)))</pre>"
        }
        body += "<h2>Source</h2><pre>\(escape(source))</pre>"
        return RunReport.document(title: "Candidate #\(candidate.record.id)", body: body)
    }

    /// What a candidate's configuration changed from its parent's: `BM 32 → 64`, `flags#0 → flags#1`,
    /// a macro set or unset.
    static func configurationChanges(from old: TunableConfiguration, to new: TunableConfiguration) -> [String] {
        var changes = Set(old.values.keys).union(new.values.keys).sorted().compactMap { name -> String? in
            let before = old.values[name]
            let after = new.values[name]
            guard before != after else { return nil }
            return "\(name) \(before ?? "(unset)") → \(after ?? "(unset)")"
        }
        if old.flagSet != new.flagSet { changes.append("flags#\(old.flagSet) → flags#\(new.flagSet)") }
        return changes
    }

    /// One line on what a journal event says, for the run page's latest events (at most 120 characters).
    static func detail(of event: RunEvent) -> String {
        let text: String
        switch event {
        case .started(let settings): text = "task \(settings.taskName)"
        case .resumed(let pid): text = "by process \(pid)"
        case .candidateCreated(let record): text = "#\(record.id) \(record.design) \(record.configuration.label)"
        case .evaluationStarted(let candidate): text = "#\(candidate)"
        case .evaluationFinished(let candidate, let result):
            text =
                "#\(candidate) "
                + result.speedupLabel + (result.node.map { " on \($0.name)" } ?? "")
        case .bestImproved(let candidate, let speedup): text = String(format: "#%d %.2fx", candidate, speedup)
        case .budgetExhausted(let budget): text = budget
        case .heldoutChecked(let candidate, let result):
            text = "#\(candidate) " + (result.correct ? "passed" : result.verdict.rawValue)
        case .winnerRemeasured(let candidate, let result):
            text = "#\(candidate) \(result.speedupLabel) on \(result.nodeKind)"
        case .remeasured(let candidate, let rival, let result):
            text = "#\(candidate) beside #\(rival): " + (result.comparison?.summary ?? result.speedupLabel)
        case .finished(let outcome): text = outcome.reason + (outcome.winner.map { ", winner #\($0)" } ?? "")
        case .interrupted: text = ""
        case .agent(.message(let message)): text = message.text
        case .agent(.request(let messages, let tokens)): text = "\(messages) messages, ~\(tokens) tokens"
        case .agent(.response(_, let finishReason, _)): text = finishReason
        case .agent(.retry(let why)): text = why
        case .agent(.compacted(_, _, let removed)): text = "\(removed) messages summarised"
        case .agent(.budgetExhausted(let budget)): text = budget
        case .agent(.finished(let why)): text = why
        case .trackStarted(let name, _), .trackSwitched(let name): text = name
        }
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > 120 ? String(line.prefix(119)) + "…" : line
    }
}
