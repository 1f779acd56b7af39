import Foundation
import KilnHarness
import KilnSandbox
import KilnTask
import KilnTesting
import Testing

/// An evaluation as a self-contained folder for a cluster's node (``EvaluationBundle``): everything that
/// decides its result travels, the rival included, and a damaged bundle is refused.
@Suite
struct EvaluationBundleTests {
    static func request(rival: Bool) throws -> EvaluationRequest {
        let task = try Fixtures.task("matmul")
        let url = Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c")
        let source = try String(contentsOf: url, encoding: .utf8)
        let space = try TunableSpace.parse(source: source, file: "tiled.c")
        var options = EvaluationOptions()
        options.minPairs = 3
        options.maxPairs = 7
        options.usesCache = false
        options.seed = 42
        var request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: "tiled.c #4",
            configuration: try space.configuration(settings: ["THREADS=1"], flagSet: 1),
            shapes: try task.shapes(named: ["square-256"]),
            options: options
        )
        if rival {
            request.rival = Rival(name: "#2", candidate: 2, source: source, configuration: space.defaultConfiguration)
        }
        return request
    }

    @Test("a bundle read back is the request written: candidate, configuration, shapes, options and rival")
    func roundTrip() async throws {
        try await withTemporaryDirectory { folder in
            for hasRival in [false, true] {
                let request = try Self.request(rival: hasRival)
                let bundle = try EvaluationBundle.write(request, sandboxMode: .isolated, into: folder)
                #expect(bundle.identity == EvaluationBundle.identity(of: request, sandboxMode: .isolated))
                let (read, mode) = try EvaluationBundle.read(bundle.folder)
                #expect(mode == .isolated)
                #expect(read.task.contentHash == request.task.contentHash)
                #expect(read.source == request.source)
                #expect(read.candidateName == request.candidateName)
                #expect(read.configuration == request.configuration)
                #expect(read.shapes.map(\.name) == ["square-256"])
                #expect(read.options.minPairs == 3 && read.options.maxPairs == 7)
                #expect(read.options.seed == 42 && !read.options.usesCache)
                #expect(read.rival == request.rival)
                #expect(EvaluationBundle.identity(of: read, sandboxMode: mode) == bundle.identity)
            }
            // The rival is part of what decides the result.
            let without = EvaluationBundle.identity(of: try Self.request(rival: false), sandboxMode: .isolated)
            let with = EvaluationBundle.identity(of: try Self.request(rival: true), sandboxMode: .isolated)
            #expect(without != with)
            // A run's re-measurement travels as one the node must not keep in its cache.
            var unkept = try Self.request(rival: true)
            unkept.options.storesResult = false
            let bundle = try EvaluationBundle.write(unkept, sandboxMode: .isolated, into: folder)
            #expect(bundle.identity != with)
            let (read, _) = try EvaluationBundle.read(bundle.folder)
            #expect(!read.options.storesResult)
            #expect(
                try EvaluationBundle.read(
                    EvaluationBundle.write(Self.request(rival: true), sandboxMode: .isolated, into: folder).folder
                ).0.options.storesResult
            )
        }
    }

    @Test("a bundle whose manifest or task files were changed is refused as damaged")
    func damaged() async throws {
        try await withTemporaryDirectory { folder in
            let request = try Self.request(rival: true)
            let edited = try EvaluationBundle.write(request, sandboxMode: .isolated, into: folder)
            let manifest = edited.folder.appending(path: EvaluationBundle.manifestName)
            let text = try String(contentsOf: manifest, encoding: .utf8)
            try Data(text.replacingOccurrences(of: "\"#2\"", with: "\"#3\"").utf8).write(to: manifest)
            let error = #expect(throws: HarnessError.self) { try EvaluationBundle.read(edited.folder) }
            #expect(error?.code == .io)

            let retasked = try EvaluationBundle.write(request, sandboxMode: .isolated, into: folder)
            let baseline = retasked.folder.appending(path: "task/baseline.c")
            try Data("/* changed */\n".utf8).write(to: baseline)
            #expect(throws: HarnessError.self) { try EvaluationBundle.read(retasked.folder) }
        }
    }
}
