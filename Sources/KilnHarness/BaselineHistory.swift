@preconcurrency package import Crypto
package import Foundation

/// The baseline's recent medians per task, shape and machine, kept in the cache folder (each file
/// authenticated like the results, with ``CacheAuthentication``), so an evaluation can say how far its
/// baseline drifted from what it usually takes: a baseline that takes 30% longer than usual means the
/// machine is busier than usual, whatever the speedups say.
///
/// Two processes recording at once may lose one of the two medians; nothing else depends on it.
package struct BaselineHistory: Sendable {
    /// The medians kept per task and shape.
    package static let kept = 9
    /// The fewest earlier medians a drift is judged against.
    package static let minimumHistory = 3

    /// The folder of the histories (`baselines` in the cache folder).
    package var directory: URL
    /// The cache's key.
    package var key: SymmetricKey

    /// Creates the histories' store.
    /// - Parameters:
    ///   - directory: their folder.
    ///   - key: the cache's key (``CacheAuthentication/key(in:)``).
    package init(directory: URL, key: SymmetricKey) {
        self.directory = directory
        self.key = key
    }

    private struct Record: Codable {
        var medians: [Double]
    }

    /// The drift of `seconds` from the recent medians under `identity`; then records `seconds`.
    /// - Parameters:
    ///   - seconds: the baseline's median now.
    ///   - shape: the shape's name, for the note.
    ///   - identity: what the medians are of (task, shape, machine, sandbox), as a hash.
    /// - Returns: the drift, or nil without enough history.
    package func record(_ seconds: Double, shape: String, identity: String) -> MachineLoad.BaselineDrift? {
        guard seconds > 0, seconds.isFinite else { return nil }
        let url = directory.appending(path: "\(identity).json")
        var medians: [Double] = []
        if let data = try? Data(contentsOf: url), let body = CacheAuthentication.open(data, key: key),
            let record = try? JSONDecoder().decode(Record.self, from: body)
        {
            medians = record.medians.filter { $0 > 0 && $0.isFinite }
        }
        let drift = Self.drift(of: seconds, shape: shape, history: medians)
        medians = Array((medians + [seconds]).suffix(Self.kept))
        if let body = try? JSONEncoder().encode(Record(medians: medians)) {
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try? CacheAuthentication.seal(body, key: key).write(to: url, options: .atomic)
        }
        return drift
    }

    /// The drift of `seconds` from the median of `history` (the earlier medians, oldest first).
    /// - Parameters:
    ///   - seconds: the baseline's median now.
    ///   - shape: the shape's name.
    ///   - history: the recent medians.
    /// - Returns: the drift, or nil with fewer than ``minimumHistory`` medians.
    package static func drift(of seconds: Double, shape: String, history: [Double]) -> MachineLoad.BaselineDrift? {
        let recent = Array(history.suffix(kept))
        guard recent.count >= minimumHistory, let median = TimingStatistics(recent).median, median > 0 else {
            return nil
        }
        return MachineLoad.BaselineDrift(
            shape: shape,
            seconds: seconds,
            recentMedianSeconds: median,
            recentCount: recent.count
        )
    }

    /// The identity of a baseline's medians: the task's content, the shape, the machine and the sandbox.
    /// - Parameter parts: what identifies them.
    /// - Returns: a hex SHA-256.
    package static func identity(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in ["kiln-baseline-history-v1"] + parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hex(hasher.finalize())
    }
}
