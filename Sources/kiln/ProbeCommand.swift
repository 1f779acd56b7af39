import ArgumentParser
import Foundation
import KilnHarness

struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Measure this machine: peak fp32 FMA rate, memory bandwidth and cache sizes (cached for eval)."
    )

    @Flag(name: .long, help: "Print the cached profile without measuring (measures if none is cached).")
    var cached = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "The C compiler to build the probe with.")
    var compiler = "gcc"

    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let probe = MachineProbe(cacheDirectory: cache.cacheURL, compiler: compiler)
        if !json { Terminal.progress("measuring this machine (a few seconds; repeated until the readings agree)…") }
        let profile = cached ? try await probe.profile() : try await probe.measure()
        Terminal.clearProgress()
        if json {
            let encoder = EvaluationCoding.encoder
            Terminal.out(String(decoding: try encoder.encode(profile), as: UTF8.self))
            return
        }
        func size(_ bytes: Int) -> String {
            bytes == 0 ? "unknown" : bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
        }
        Terminal.out(
            """
            cpu:        \(profile.cpuModel.isEmpty ? "unknown" : profile.cpuModel) (\(profile.simd), \(profile.threads) threads)
            fp32 peak:  \(String(format: "%.1f", profile.peakGflops1)) GFLOP/s on one core, \(String(format: "%.1f", profile.peakGflopsAll)) on all \(profile.threads)
            triad:      \(String(format: "%.1f", profile.bandwidthGbs1)) GB/s on one thread, \(String(format: "%.1f", profile.bandwidthGbsAll)) on all
            caches:     L1d \(size(profile.l1dBytes)), L2 \(size(profile.l2Bytes)), L3 \(size(profile.l3Bytes))
            bound:      \(profile.theoreticalPeak?.summary ?? "unknown (no clock reported)")
            load:       \(profile.load?.note ?? "not measured")\(profile.rounds.map { " (\($0) rounds in all)" } ?? "")
            trust:      \(profile.suspectReason.map { "SUSPECT: \($0); measured again after \(Int(probe.suspectRetryInterval.components.seconds)) s, never lowered" } ?? "trusted: the best of readings that agreed, on a quiet machine; never lowered by a later reading")
            cached in:  \(cache.cacheURL.appending(path: "probe.json").path)
            """
        )
    }
}
