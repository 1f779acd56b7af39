import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// The impossible-speed check on real evaluations: a time is never rejected against a profile that may
/// be under-read without measuring the machine again first, and a rejection that stands says it is a
/// timing rejection, never a wrong result.
@Suite(.timeLimit(.minutes(5)))
struct SpeedCheckTests {
    /// A cache folder whose profile says this machine does 0.5 GFLOP/s: trusted, fresh, and far too low
    /// (what a probe under heavy load, before issue 12, could cache for good).
    static func underReadCache(in folder: URL) throws -> URL {
        let cache = folder.appending(path: "cache")
        var profile = MachineProfile(
            peakGflops1: 0.5,
            peakGflopsAll: 0.5,
            threads: ProcessInfo.processInfo.activeProcessorCount,
            bandwidthGbs1: 0.5,
            bandwidthGbsAll: 0.5,
            l1dBytes: 0,
            l2Bytes: 0,
            l3Bytes: 0,
            cpuModel: "",
            simd: "scalar",
            measuredAt: Date()
        )
        profile.theoreticalPeak = TheoreticalPeak(
            threads: profile.threads,
            fp32Lanes: 1,
            clockMegahertz: 100,
            clockSource: "test"
        )
        profile.rounds = 2
        // The real probe's identity, so that re-measuring merges into this profile.
        let real = try #require(MachineProbe(cacheDirectory: Fixtures.sharedCache).cached())
        profile.cpuModel = real.cpuModel
        profile.simd = real.simd
        let encoder = EvaluationCoding.encoder
        let key = try CacheAuthentication.key(in: cache)
        try CacheAuthentication.seal(try encoder.encode(profile), key: key).write(
            to: cache.appending(path: "probe.json")
        )
        return cache
    }

    static func evaluate(task: KernelTask, cache: URL) async throws -> EvaluationResult {
        let source = try String(contentsOf: task.url(of: "seeds/tiled.c"), encoding: .utf8)
        var options = EvaluationOptions()
        options.usesCache = false
        options.minPairs = 2
        options.maxPairs = 2
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: "seeds/tiled.c",
            configuration: try TunableSpace.parse(source: source, file: "tiled.c").defaultConfiguration,
            shapes: try task.shapes(named: ["square-256"]),
            options: options
        )
        return try await Evaluator(cacheDirectory: cache).evaluate(request)
    }

    @Test("a correct candidate faster than an under-read profile passes once the machine is measured again")
    func underReadProfile() async throws {
        _ = try await MachineProbe(cacheDirectory: Fixtures.sharedCache).profile()
        try await withTemporaryDirectory { folder in
            let cache = try Self.underReadCache(in: folder)
            let result = try await Self.evaluate(task: try Fixtures.task("matmul"), cache: cache)
            #expect(result.verdict == .correct, "\(result.failure ?? "")")
            #expect(result.machine.peakGflopsAll > 0.5, "the fresh reading replaced the under-read peak")
            let shape = try #require(result.shapes.first)
            #expect(shape.notes.contains { $0.contains("measured again") })
            #expect((shape.fractionOfPeak ?? 2) <= 1.1)
            let cached = try #require(MachineProbe(cacheDirectory: cache).cached())
            #expect(cached.peakGflopsAll == result.machine.peakGflopsAll, "the fresh peak is cached")
            #expect(result.load?.note.isEmpty == false)
        }
    }

    @Test("uncached readings (kiln-bench eval's control) measure the machine and leave its cached profile as it was")
    func uncachedReadings() async throws {
        _ = try await MachineProbe(cacheDirectory: Fixtures.sharedCache).profile()
        try await withTemporaryDirectory { folder in
            let cache = try Self.underReadCache(in: folder)
            let before = try Data(contentsOf: cache.appending(path: "probe.json"))
            let readings = try await MachineProbe(cacheDirectory: cache).uncachedReadings(rounds: 2)
            #expect(readings.count == 2)
            for reading in readings {
                #expect(
                    reading.peakGflopsAll > 0.5 && reading.bandwidthGbs1 > 0.5,
                    "a real reading, not the cached one"
                )
                #expect(reading.load != nil, "each reading says the load it saw")
            }
            #expect(
                try Data(contentsOf: cache.appending(path: "probe.json")) == before,
                "the cached profile is untouched"
            )
        }
    }

    @Test("a time impossible even after measuring again is an integrity violation that says it is a timing rejection")
    func impossibleAfterRemeasuring() async throws {
        _ = try await MachineProbe(cacheDirectory: Fixtures.sharedCache).profile()
        try await withTemporaryDirectory { folder in
            // matmul with its declared work a million times larger: any time for it is impossible.
            let taskFolder = folder.appending(path: "matmul")
            try FileManager.default.copyItem(at: Fixtures.taskFolder("matmul"), to: taskFolder)
            let instance = taskFolder.appending(path: "instance.c")
            let text = try String(contentsOf: instance, encoding: .utf8)
            let inflated = text.replacingOccurrences(
                of: "kiln_set_work(problem, 2.0 *",
                with: "kiln_set_work(problem, 2.0e6 *"
            )
            #expect(inflated != text)
            try inflated.write(to: instance, atomically: true, encoding: .utf8)
            let cache = try Self.underReadCache(in: folder)
            let result = try await Self.evaluate(task: try KernelTask.load(from: taskFolder), cache: cache)
            #expect(result.verdict == .integrityViolation)
            let failure = try #require(result.failure)
            #expect(failure.contains("timing rejected (impossible speed)"), "\(failure)")
            #expect(failure.contains("measured again just now"), "\(failure)")
            #expect(result.shapes.first?.verdict == .integrityViolation)
            #expect(result.machine.peakGflopsAll > 0.5, "it was measured again before rejecting")
        }
    }
}
