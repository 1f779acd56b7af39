import ArgumentParser
import AsyncHTTPClient
import Foundation
import KilnHarness
import KilnRun
import KilnServe
import KilnTask
import NIOCore
import NIOHTTP1

/// `kiln bench serve`: the dashboard on a large journal, and its cost to a run being watched.
struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Dashboard latency on a journal of many events, and a run's wall time with and without live viewers."
    )

    @Option(name: .long, help: "Events in the synthetic journal.")
    var events = 5000

    @Option(name: .long, help: "Requests of the run page to time.")
    var requests = 60

    @Option(name: .long, help: "Live viewers connected during the watched run.")
    var viewers = 50

    @Option(
        name: .long,
        help: "Keep serving the synthetic run on this port afterwards (for wrk or a browser); 0 to stop."
    )
    var keepPort = 0

    @OptionGroup var runs: RunsFolderOptions
    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let task = try KernelTask.load(
            from: URL(filePath: FileManager.default.currentDirectoryPath).appending(path: "tasks/matmul")
        )
        let orchestrator = RunOrchestrator(store: runs.store, evaluator: Evaluator(cacheDirectory: cache.cacheURL))
        var options = RunOptions()
        options.maxEvaluations = 1
        options.minPairs = 2
        options.maxPairs = 2
        let (seedID, seedState) = try await orchestrator.start(task: task, taskPath: task.folder.path, options: options)
        guard let settings = seedState.settings, let template = seedState.candidates[1],
            let templateResult = template.result
        else {
            throw ValidationError("the seed run produced no evaluation")
        }
        // A journal of `events` events made of the real evaluation, repeated with varied speedups.
        let id = try runs.store.create(taskName: "synthetic")
        let journal = try Journal(url: runs.store.journalURL(of: id))
        var synthetic = settings
        synthetic.id = id
        try journal.append(.started(synthetic))
        var written = 1
        var best = 0.0
        var number = 0
        var generator = SeedGenerator(seed: 7)
        while written + 4 <= events {
            number += 1
            var record = template.record
            record.id = number
            var result = templateResult
            let speedup = Double.random(in: 5...60, using: &generator)
            result.geomeanSpeedup = speedup
            try journal.append(.candidateCreated(record))
            try journal.append(.evaluationStarted(candidate: number))
            try journal.append(.evaluationFinished(candidate: number, result: result))
            written += 3
            if speedup > best {
                best = speedup
                try journal.append(.bestImproved(candidate: number, speedup: speedup))
                written += 1
            }
        }
        Terminal.out("synthetic run \(id): \(written) events, \(number) evaluations (built from run \(seedID))")

        let server = DashboardServer(store: runs.store)
        let requests = self.requests
        let latencies = try await server.withRunning { base in
            var times: [Double] = []
            let url = base.appending(path: "runs/\(id)").absoluteString
            for _ in 0..<requests {
                let clock = ContinuousClock()
                let start = clock.now
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 64 << 20)
                let elapsed = clock.now - start
                times.append(Double(elapsed.components.attoseconds) * 1e-18 + Double(elapsed.components.seconds))
            }
            return times.sorted()
        }
        Terminal.out(
            String(
                format: "run page of %d events: median %.1f ms, p90 %.1f ms, first (cold) %.1f ms over %d requests",
                written,
                latencies[latencies.count / 2] * 1000,
                latencies[latencies.count * 9 / 10] * 1000,
                (latencies.max() ?? 0) * 1000,
                latencies.count
            )
        )

        // The same run with and without live viewers.
        var watched = RunOptions()
        watched.maxEvaluations = 12
        watched.minPairs = 3
        watched.maxPairs = 3
        watched.seed = 3
        watched.strategy = "random"
        let cacheRoot = cache.cacheURL
        let store = runs.store
        let watchedTask = task
        let watchedOptions = watched
        // Each timed run measures from scratch: its own cache (sharing the machine profile only).
        let timedRun: @Sendable () async throws -> Double = {
            let fresh = cacheRoot.appending(path: "bench-serve-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
            try? FileManager.default.copyItem(
                at: cacheRoot.appending(path: "probe.json"),
                to: fresh.appending(path: "probe.json")
            )
            defer { try? FileManager.default.removeItem(at: fresh) }
            let orchestrator = RunOrchestrator(store: store, evaluator: Evaluator(cacheDirectory: fresh))
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await orchestrator.start(
                task: watchedTask,
                taskPath: watchedTask.folder.path,
                options: watchedOptions
            )
            let elapsed = clock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        let alone = try await timedRun()
        let viewers = self.viewers
        // One connection per viewer (the shared client would queue all but eight).
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = viewers + 4
        let viewerClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let withViewers = try await server.withRunning { base in
            try await withThrowingTaskGroup(of: Double?.self) { group in
                group.addTask { try await timedRun() }
                // Viewers follow the newest run: wait for it to appear, then open its stream.
                try await Task.sleep(for: .milliseconds(300))
                let newest = store.allIDs().last ?? id
                for _ in 0..<viewers {
                    group.addTask {
                        // A viewer reads its stream until the run is over and it is cancelled.
                        let request = HTTPClientRequest(
                            url: base.appending(path: "api/runs/\(newest)/stream").absoluteString
                        )
                        do {
                            let response = try await viewerClient.execute(request, timeout: .seconds(600))
                            for try await _ in response.body {}
                        } catch {}
                        return nil
                    }
                }
                var result = 0.0
                while let value = try await group.next() {
                    if let value {
                        result = value
                        group.cancelAll()
                    }
                }
                // Close every viewer connection before the dashboard stops.
                try await viewerClient.shutdown()
                return result
            }
        }
        Terminal.out(
            String(
                format: "a 12-evaluation run: %.1f s alone, %.1f s with %d live viewers (%+.1f%%)",
                alone,
                withViewers,
                viewers,
                (withViewers / alone - 1) * 100
            )
        )
        if keepPort > 0 {
            Terminal.out("serving on http://127.0.0.1:\(keepPort)/runs/\(id) until Ctrl-C")
            try await server.run(port: keepPort)
        }
    }
}
