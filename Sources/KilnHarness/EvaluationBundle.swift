import Crypto
package import Foundation
import KilnCore
package import KilnSandbox
import KilnTask

/// One evaluation as a self-contained folder, for an executor that runs it elsewhere: the task folder's
/// files (`task/`) and a manifest (`bundle.json`) holding the candidate's source, its name and
/// configuration, the shapes, the options, the sandbox mode and the rival it is timed beside (so that the
/// node times both in the same pairs). The backend travels in the task's own files (`task.toml`). `kiln eval-bundle FOLDER` on a node
/// evaluates it there, with the node's own cache and sandbox, exactly as a local evaluation.
///
/// The task's content hash travels in the manifest and is checked against the files on arrival, and the
/// bundle's ``identity`` hashes everything that determines the result apart from the node (the node's
/// machine, tools and Kiln build join it in the node's cache key, as in ``Evaluator``'s).
package struct EvaluationBundle: Sendable {
    /// The bundle's folder.
    package var folder: URL
    /// A SHA-256 of everything in it that determines the result.
    package var identity: String

    /// The manifest's file name.
    package static let manifestName = "bundle.json"
    /// The bundle format this Kiln writes and reads.
    package static let format = 2

    private struct Manifest: Codable {
        var format: Int
        var identity: String
        var taskHash: String
        var candidateName: String
        var source: String
        var configuration: TunableConfiguration
        var shapes: [Shape]
        var sandbox: Sandbox.Mode
        var minPairs: Int
        var maxPairs: Int
        var targetSpread: Double
        var noisySpread: Double
        var shapeTimeBudgetSeconds: Double
        var warmups: Int
        var callTimeoutSeconds: Double?
        var seed: UInt64?
        var usesCache: Bool
        var isCorrectnessOnly: Bool
        /// Format 2: the rival, when the evaluation times one beside the candidate.
        var rival: BundledRival?
        /// Format 2: whether the result is kept in the node's cache (``EvaluationOptions/storesResult``);
        /// absent means it is.
        var storesResult: Bool?
    }

    private struct BundledRival: Codable {
        var name: String
        var candidate: Int?
        var source: String
        var configuration: TunableConfiguration
    }

    /// Writes a request as a bundle in a new folder below `parent`.
    /// - Parameters:
    ///   - request: the evaluation.
    ///   - sandboxMode: how its candidate must run on the node.
    ///   - parent: where to make the bundle's folder.
    /// - Returns: the bundle.
    /// - Throws: ``HarnessError`` `.io` when the folder cannot be written.
    package static func write(
        _ request: EvaluationRequest,
        sandboxMode: Sandbox.Mode,
        into parent: URL
    ) throws(HarnessError) -> EvaluationBundle {
        let options = request.options
        let identity = identity(of: request, sandboxMode: sandboxMode)
        let manifest = Manifest(
            format: format,
            identity: identity,
            taskHash: request.task.contentHash,
            candidateName: request.candidateName,
            source: request.source,
            configuration: request.configuration,
            shapes: request.shapes,
            sandbox: sandboxMode,
            minPairs: options.minPairs,
            maxPairs: options.maxPairs,
            targetSpread: options.targetSpread,
            noisySpread: options.noisySpread,
            shapeTimeBudgetSeconds: options.shapeTimeBudget.inSeconds,
            warmups: options.warmups,
            callTimeoutSeconds: options.callTimeout?.inSeconds,
            seed: options.seed,
            usesCache: options.usesCache,
            isCorrectnessOnly: options.isCorrectnessOnly,
            rival: request.rival.map {
                BundledRival(name: $0.name, candidate: $0.candidate, source: $0.source, configuration: $0.configuration)
            },
            storesResult: options.storesResult
        )
        let folder = parent.appending(path: "\(identity.prefix(16))-\(UUID().uuidString.prefix(8))")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try copyTaskFiles(from: request.task.folder, to: folder.appending(path: "task"))
            let data = try EvaluationCoding.encoder.encode(manifest)
            try data.write(to: folder.appending(path: manifestName), options: .atomic)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw HarnessError(.io, "cannot write an evaluation bundle in \(parent.path)", underlying: error)
        }
        return EvaluationBundle(folder: folder, identity: identity)
    }

    /// Reads a bundle: its task (loaded from its files, checked against the hash it was sent with), its
    /// request and the sandbox mode its candidate must run in.
    /// - Parameter folder: the bundle's folder.
    /// - Returns: the request and the sandbox mode.
    /// - Throws: ``HarnessError`` `.io` for a missing or malformed manifest or a task that does not match
    ///   its hash; ``TaskError`` for a task folder that does not load.
    package static func read(_ folder: URL) throws -> (request: EvaluationRequest, sandboxMode: Sandbox.Mode) {
        let manifestURL = folder.appending(path: manifestName)
        let manifest: Manifest
        do {
            manifest = try EvaluationCoding.decoder.decode(Manifest.self, from: Data(contentsOf: manifestURL))
        } catch {
            throw HarnessError(.io, "\(manifestURL.path) is not an evaluation bundle's manifest", underlying: error)
        }
        guard manifest.format <= format else {
            throw HarnessError(
                .io,
                "the bundle \(folder.path) has format \(manifest.format); this Kiln reads up to \(format): install the same Kiln build on every node"
            )
        }
        let task = try KernelTask.load(from: folder.appending(path: "task"))
        guard task.contentHash == manifest.taskHash else {
            throw HarnessError(
                .io,
                "the bundle's task files do not match the task hash they were sent with (\(manifest.taskHash.prefix(12))); the bundle is damaged"
            )
        }
        var options = EvaluationOptions()
        options.minPairs = manifest.minPairs
        options.maxPairs = manifest.maxPairs
        options.targetSpread = manifest.targetSpread
        options.noisySpread = manifest.noisySpread
        options.shapeTimeBudget = Duration.checkedSeconds(manifest.shapeTimeBudgetSeconds) ?? options.shapeTimeBudget
        options.warmups = manifest.warmups
        options.callTimeout = manifest.callTimeoutSeconds.flatMap { Duration.checkedSeconds($0) }
        options.seed = manifest.seed
        options.usesCache = manifest.usesCache
        options.isCorrectnessOnly = manifest.isCorrectnessOnly
        options.storesResult = manifest.storesResult ?? true
        var request = EvaluationRequest(
            task: task,
            source: manifest.source,
            candidateName: manifest.candidateName,
            configuration: manifest.configuration,
            shapes: manifest.shapes,
            options: options
        )
        request.rival = manifest.rival.map {
            Rival(name: $0.name, candidate: $0.candidate, source: $0.source, configuration: $0.configuration)
        }
        guard identity(of: request, sandboxMode: manifest.sandbox) == manifest.identity else {
            throw HarnessError(.io, "the bundle \(folder.path) does not match its identity; it is damaged")
        }
        return (request, manifest.sandbox)
    }

    /// The hash of everything in a request that determines its result, apart from the machine.
    /// - Parameters:
    ///   - request: the request.
    ///   - sandboxMode: the sandbox mode.
    /// - Returns: the hex digest.
    package static func identity(of request: EvaluationRequest, sandboxMode: Sandbox.Mode) -> String {
        let options = request.options
        var hasher = SHA256()
        var parts: [String] = [
            "kiln-bundle-v1", request.task.contentHash, request.source, request.candidateName,
            request.configuration.label, request.shapes.map(\.driverSpec).joined(separator: "\n"),
            "\(options.minPairs) \(options.maxPairs) \(options.targetSpread) \(options.warmups) \(options.isCorrectnessOnly)",
            "\(options.noisySpread) \(options.shapeTimeBudget.inSeconds) \(options.usesCache)", sandboxMode.rawValue,
            options.seed.map(String.init) ?? "fresh", options.callTimeout.map { "\($0.inSeconds)" } ?? "task",
        ]
        // A rival joins the identity only when there is one, so that format 1 bundles keep theirs.
        if let rival = request.rival {
            parts += [
                "rival", rival.name, rival.candidate.map(String.init) ?? "-", rival.source, rival.configuration.label,
            ]
        }
        // Likewise a result that is not to be kept, so that earlier bundles keep theirs.
        if !options.storesResult { parts.append("not stored") }
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hex(hasher.finalize())
    }

    /// Copies a task folder's regular files (not hidden ones, nor links out of it).
    private static func copyTaskFiles(from source: URL, to destination: URL) throws {
        let files = FileManager.default
        try files.createDirectory(at: destination, withIntermediateDirectories: true)
        let root = source.standardizedFileURL.resolvingSymlinksInPath()
        guard
            let enumerator = files.enumerator(
                at: root,
                includingPropertiesForKeys: [.isRegularFileKey, .isDirectoryKey],
                options: [.skipsHiddenFiles]
            )
        else { throw CocoaError(.fileReadNoSuchFile) }
        for case let url as URL in enumerator {
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .isDirectoryKey])
            let relative = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            if values.isDirectory == true {
                try files.createDirectory(at: destination.appending(path: relative), withIntermediateDirectories: true)
            } else if values.isRegularFile == true {
                try files.copyItem(at: url, to: destination.appending(path: relative))
            }
        }
    }
}
