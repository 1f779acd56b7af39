import ArgumentParser
import Foundation
import KilnHarness
import KilnRun
import KilnTask

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List runs with their status and best speedup."
    )

    @Flag(name: .long, help: "Print a JSON array.")
    var json = false

    @OptionGroup var runs: RunsFolderOptions

    func run() async throws {
        let summaries = runs.store.summaries()
        if json {
            Terminal.out(String(decoding: try EvaluationCoding.encoder.encode(summaries), as: UTF8.self))
            return
        }
        guard !summaries.isEmpty else {
            Terminal.out("no runs in \(runs.store.root.relativePathForDisplay); start one with: kiln run TASK")
            return
        }
        let rows = summaries.map { summary in
            [
                summary.id, summary.task, summary.proposer, summary.status, String(summary.evaluations),
                summary.bestSpeedup.map { String(format: "%.2fx", $0) } ?? "-",
                String(format: "%.1f min", summary.elapsedSeconds / 60),
            ]
        }
        for line in ResultTable.table(
            header: ["run", "task", "proposer", "status", "evals", "best", "elapsed"],
            rows: rows
        ) {
            Terminal.out(line)
        }
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print one run's summary and leaderboard."
    )

    @Argument(help: "The run's id (or a unique prefix).")
    var run: String

    @OptionGroup var runs: RunsFolderOptions

    func run() async throws {
        let store = runs.store
        let id = try store.resolve(run)
        let journal = try Journal(url: store.journalURL(of: id), readOnly: true)
        let state = RunState(entries: try journal.entries())
        Terminal.out(RunReport(state: state, runID: id).markdown())
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a run's report: a self-contained HTML page and a Markdown summary."
    )

    @Argument(help: "The run's id (or a unique prefix).")
    var run: String

    @Option(name: .long, help: "Where to write the HTML page (default: the run folder's report.html).")
    var out: String?

    @OptionGroup var runs: RunsFolderOptions

    func run() async throws {
        let store = runs.store
        let id = try store.resolve(run)
        let journal = try Journal(url: store.journalURL(of: id), readOnly: true)
        let report = RunReport(state: RunState(entries: try journal.entries()), runID: id)
        let html = out.map { URL(filePath: $0) } ?? store.folder(of: id).appending(path: "report.html")
        let markdown = html.deletingPathExtension().appendingPathExtension("md")
        do {
            try Data(report.html().utf8).write(to: html, options: .atomic)
            try Data(report.markdown().utf8).write(to: markdown, options: .atomic)
        } catch {
            throw HarnessError(
                .io,
                "cannot write the report to \(html.relativePathForDisplay): \(error.localizedDescription)"
            )
        }
        Terminal.out("report: \(html.relativePathForDisplay)")
        Terminal.out("summary: \(markdown.relativePathForDisplay)")
    }
}
