import ArgumentParser
import AsyncHTTPClient
import Foundation
import KilnCore
import KilnHarness
import KilnRun
import KilnServe
import KilnTask
import NIOCore
import NIOHTTP1
import Synchronization

/// `kiln-bench serve`: the dashboard on a large journal, and its cost to a run being watched.
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

    @Option(name: .long, help: "Interleaved pairs of watched and unwatched runs (0 skips this half).")
    var pairs = 5

    @Option(
        name: .long,
        help:
            "Keep serving the synthetic run on this port afterwards, rendering every request (for wrk or a browser); 0 to stop."
    )
    var keepPort = 0

    @OptionGroup var folders: BenchFolders
    @OptionGroup var bundled: BenchTask

    func validate() throws {
        guard events >= 100 else { throw ValidationError("--events must be at least 100") }
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        guard viewers >= 1, viewers <= 1000 else { throw ValidationError("--viewers must be between 1 and 1000") }
        guard pairs >= 0 else { throw ValidationError("--pairs must be 0 or more") }
        guard (0...65535).contains(keepPort) else { throw ValidationError("--keep-port must be a port number") }
    }

    func run() async throws {
        // Before any work: the viewer half needs curl.
        if pairs > 0 { try await Self.requireCurl() }
        let task = try KernelTask.load(
            from: try bundled.folder()
        )
        let orchestrator = RunOrchestrator(
            store: folders.store,
            evaluator: folders.evaluator
        )
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
        let id = try folders.store.create(taskName: "synthetic")
        let journal = try Journal(url: folders.store.journalURL(of: id))
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

        let requests = self.requests
        /// Times `requests` fetches of the synthetic run's page, sorted, seconds.
        func pageLatencies(_ server: DashboardServer) async throws -> [Double] {
            try await server.withRunning { base in
                var times: [Double] = []
                let url = base.appending(path: "runs/\(id)").absoluteString
                for _ in 0..<requests {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let response = try await HTTPClient.shared.execute(
                        HTTPClientRequest(url: url),
                        timeout: .seconds(30)
                    )
                    _ = try await response.body.collect(upTo: 64 << 20)
                    times.append((clock.now - start).inSeconds)
                }
                return times.sorted()
            }
        }
        // Every request renders (what a journal growing between requests costs), then renders reused
        // (what the viewers of one journal event share).
        for (label, reuse) in [("rendered each time", false), ("render reused", true)] {
            let latencies = try await pageLatencies(DashboardServer(store: folders.store, reusesRenders: reuse))
            Terminal.out(
                "run page of \(written) events, \(label): "
                    + String(
                        format: "median %.1f ms, p90 %.1f ms, slowest %.1f ms over %d requests",
                        latencies[latencies.count / 2] * 1000,
                        latencies[latencies.count * 9 / 10] * 1000,
                        (latencies.max() ?? 0) * 1000,
                        latencies.count
                    )
            )
        }
        if pairs > 0 { try await measureViewers(task: task) }
        if keepPort > 0 {
            // Rendering every request: what a load tool measures is the worst case, not the reuse.
            Terminal.out("serving on http://127.0.0.1:\(keepPort)/runs/\(id) (rendering every request) until Ctrl-C")
            try await DashboardServer(store: folders.store, reusesRenders: false).run(port: keepPort)
        }
    }
}
