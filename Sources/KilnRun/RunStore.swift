package import Foundation
import KilnAgent

/// The runs folder: one subfolder per run, holding its journal, lock, winner and report.
package struct RunStore: Sendable {
    /// The runs folder.
    package var root: URL

    /// Creates a store over a runs folder (created on first write).
    /// - Parameter root: the runs folder.
    package init(root: URL) {
        self.root = root
    }

    /// A run's folder.
    /// - Parameter id: the run's id.
    /// - Returns: its folder.
    package func folder(of id: String) -> URL { root.appending(path: id) }

    /// A run's journal file.
    /// - Parameter id: the run's id.
    /// - Returns: its journal's URL.
    package func journalURL(of id: String) -> URL { folder(of: id).appending(path: "journal.sqlite") }

    /// Makes a new run folder with a fresh id.
    /// - Parameter taskName: the task's name, part of the id.
    /// - Returns: the id.
    /// - Throws: ``RunError`` `.io` when the runs folder cannot be written.
    package func create(taskName: String) throws(RunError) -> String {
        let stamp = Self.stampFormatter.string(from: Date())
        let safe = String(taskName.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(32))
        let id = "\(stamp)-\(safe)-\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
        do {
            try FileManager.default.createDirectory(at: folder(of: id), withIntermediateDirectories: true)
        } catch {
            throw RunError(
                .io,
                "cannot create a run folder in \(root.path): \(Self.reason(error)); pass --runs with a writable folder"
            )
        }
        guard FileManager.default.isWritableFile(atPath: folder(of: id).path) else {
            throw RunError(.io, "the runs folder \(root.path) is not writable; pass --runs with a writable folder")
        }
        return id
    }

    /// Resolves a run id (or a unique prefix of one) to an existing run.
    /// - Parameter id: the id or a prefix.
    /// - Returns: the full id.
    /// - Throws: ``RunError`` `.unknownRun` listing recent runs.
    package func resolve(_ id: String) throws(RunError) -> String {
        if !id.isEmpty, !id.contains("/"), FileManager.default.fileExists(atPath: journalURL(of: id).path) { return id }
        let ids = allIDs()
        let matches = ids.filter { $0.hasPrefix(id) }
        if !id.isEmpty, matches.count == 1, let match = matches.first { return match }
        let recent = ids.suffix(5).joined(separator: ", ")
        if matches.count > 1 {
            throw RunError(.unknownRun, "'\(id)' matches \(matches.count) runs; give more of the id")
        }
        throw RunError(
            .unknownRun,
            "no run '\(id)' in \(root.path)\(recent.isEmpty ? " (it holds no runs)" : "; recent runs: \(recent)"); see 'kiln runs'"
        )
    }

    /// Every run's id, oldest first.
    /// - Returns: the ids.
    package func allIDs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: journalURL(of: $0).path) }.sorted()
    }

    /// A summary of every run, oldest first; unreadable journals are reported as such.
    /// - Returns: the summaries.
    package func summaries() -> [RunSummary] {
        allIDs().map { id in
            do {
                let journal = try Journal(url: journalURL(of: id), readOnly: true)
                return RunSummary(
                    id: id,
                    state: RunState(entries: try journal.entries()),
                    isLocked: RunLock.isHeld(folder: folder(of: id))
                )
            } catch {
                return RunSummary(unreadable: id, reason: "\(error)")
            }
        }
    }

    private static let stampFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter
    }()

    private static func reason(_ error: any Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        return underlying?.localizedDescription ?? error.localizedDescription
    }
}

/// One line of `kiln runs`.
package struct RunSummary: Codable, Sendable, Hashable {
    /// The run's id.
    package var id: String
    /// The task's name.
    package var task: String
    /// running, finished, interrupted, stopped (killed) or unreadable.
    package var status: String
    /// The best correct speedup so far.
    package var bestSpeedup: Double?
    /// Finished evaluations.
    package var evaluations: Int
    /// Tool calls of the model (agent runs).
    package var toolCalls: Int
    /// "tuner" or the model.
    package var proposer: String
    /// When it started.
    package var startedAt: Date?
    /// Wall time over all its parts, seconds.
    package var elapsedSeconds: Double

    init(id: String, state: RunState, isLocked: Bool) {
        self.id = id
        task = state.settings?.taskName ?? "?"
        status =
            isLocked ? "running" : state.outcome != nil ? "finished" : state.isInterrupted ? "interrupted" : "stopped"
        bestSpeedup = state.bestSpeedup
        evaluations = state.finishedEvaluations
        toolCalls = state.agent.toolCalls
        proposer = state.settings?.proposer ?? "?"
        startedAt = state.startedAt
        elapsedSeconds = state.elapsed()
    }

    init(unreadable id: String, reason: String) {
        self.id = id
        task = "?"
        status = "unreadable: \(reason)"
        bestSpeedup = nil
        evaluations = 0
        toolCalls = 0
        proposer = "?"
        startedAt = nil
        elapsedSeconds = 0
    }
}
