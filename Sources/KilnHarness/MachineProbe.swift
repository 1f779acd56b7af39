package import Foundation
import KilnCore
import KilnSandbox

#if canImport(Glibc)
import Glibc
#endif

/// Measures the machine (peak FMA rate, memory bandwidth, cache sizes) and caches the result.
///
/// The probe runs until its best two readings of each figure agree (``ProbeRounds``), keeping the best
/// of each, and records the load it saw. A profile measured on a busy machine, or whose readings never
/// settled or contradict each other, is suspect: it is used, but measured again once it is
/// ``suspectRetryInterval`` old. No measurement ever lowers a cached figure (a busy machine reads low,
/// never high); delete `probe.json` to start over.
package struct MachineProbe: Sendable {
    /// Where `probe.json` and the probe's build are kept.
    package var cacheDirectory: URL
    /// The C compiler to build the probe with.
    package var compiler: String
    /// How old a suspect profile must be before ``profile()`` measures again: ten minutes, so a machine
    /// that stays busy is not probed (5 runs, about 10 s) before every evaluation. A time that looks too
    /// fast is re-checked against a fresh measurement whatever the profile's age (``SpeedCheck``).
    package var suspectRetryInterval: Duration = .seconds(600)

    /// Creates a probe.
    /// - Parameters:
    ///   - cacheDirectory: the cache folder.
    ///   - compiler: the C compiler's command name.
    package init(cacheDirectory: URL, compiler: String = "gcc") {
        self.cacheDirectory = cacheDirectory
        self.compiler = compiler
    }

    private var cacheURL: URL { cacheDirectory.appending(path: "probe.json") }

    /// The cached profile, when there is one for this machine.
    /// - Returns: the profile, or nil.
    package func cached() -> MachineProfile? {
        guard let data = try? Data(contentsOf: cacheURL), let key = try? CacheAuthentication.key(in: cacheDirectory),
            let body = CacheAuthentication.open(data, key: key),
            let profile = try? Self.decoder.decode(MachineProfile.self, from: body)
        else { return nil }
        guard profile.threads == ProcessInfo.processInfo.activeProcessorCount else { return nil }
        return profile
    }

    /// The cached profile, or a fresh measurement when none is cached, the cached one is suspect and
    /// old enough to try again, or it was written before profiles had a theoretical bound.
    /// - Returns: the profile.
    /// - Throws: ``HarnessError`` when the probe cannot be built or run.
    package func profile() async throws(HarnessError) -> MachineProfile {
        if let cached = cached(), !needsMeasuring(cached) { return cached }
        return try await withProbeLock { () async throws(HarnessError) -> MachineProfile in
            // Another process may have measured while this one waited.
            if let cached = cached(), !needsMeasuring(cached) { return cached }
            return try await measureUnlocked()
        }
    }

    /// Builds and runs the probe (a few seconds), merges its result into the cached profile (no figure
    /// is lowered) and caches that.
    /// - Returns: the fresh profile.
    /// - Throws: ``HarnessError`` `.probeFailed` when the probe cannot be built or run.
    package func measure() async throws(HarnessError) -> MachineProfile {
        try await withProbeLock { () async throws(HarnessError) -> MachineProfile in try await measureUnlocked() }
    }

    /// Whether a cached profile should be measured again before use.
    /// - Parameters:
    ///   - profile: the cached profile.
    ///   - now: the time now.
    /// - Returns: true when it predates the theoretical bound, or is suspect and old enough.
    package func needsMeasuring(_ profile: MachineProfile, now: Date = Date()) -> Bool {
        if profile.theoreticalPeak == nil || profile.rounds == nil { return true }
        guard profile.isSuspect else { return false }
        guard let measuredAt = profile.measuredAt else { return true }
        return now.timeIntervalSince(measuredAt) >= suspectRetryInterval.inSeconds
    }

    /// Runs `body` holding an exclusive lock on the cache's probe, so that two processes never
    /// measure at once (they would measure each other).
    private func withProbeLock<T>(_ body: () async throws(HarnessError) -> T) async throws(HarnessError) -> T {
        do {
            try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw HarnessError(.io, "cannot create \(cacheDirectory.path); is it writable?", underlying: error)
        }
        let fd = open(cacheDirectory.appending(path: "probe.lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HarnessError(.io, "cannot create the probe lock in \(cacheDirectory.path)") }
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                throw HarnessError(.cancelled, "cancelled while waiting for the machine probe")
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }

    /// Measures the machine `rounds` times without touching the cached profile: a control for a
    /// benchmark that wants to know how far the machine itself moved between its measurements.
    /// - Parameter rounds: how many probe runs (each takes a few seconds).
    /// - Returns: the readings, in order.
    /// - Throws: ``HarnessError`` `.probeFailed` when the probe cannot be built or run.
    package func uncachedReadings(rounds: Int) async throws(HarnessError) -> [ProbeReading] {
        let folder = try await buildProbe()
        defer { try? FileManager.default.removeItem(at: folder) }
        var readings: [ProbeReading] = []
        for _ in 0..<max(rounds, 1) {
            readings.append(try await readOnce(folder.appending(path: "probe"), in: folder))
        }
        return readings
    }

    /// Builds the probe in a fresh folder below the cache, which the caller removes.
    private func buildProbe() async throws(HarnessError) -> URL {
        let folder = cacheDirectory.appending(path: "build/probe-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw HarnessError(.io, "cannot create \(folder.path); is the cache folder writable?", underlying: error)
        }
        let source = try HarnessResources.directory().appending(path: "kiln_probe.c")
        let build = try await harnessRun(
            compiler,
            ["-O2", "-march=native", "-fopenmp", source.path, "-o", "probe", "-lm"],
            timeout: .seconds(120),
            directory: folder
        )
        guard build.isSuccess else {
            try? FileManager.default.removeItem(at: folder)
            throw HarnessError(
                .probeFailed,
                "the machine probe does not compile:\n\(BuildLog.firstErrors(build.output))"
            )
        }
        return folder
    }

    private func measureUnlocked() async throws(HarnessError) -> MachineProfile {
        let folder = try await buildProbe()
        defer { try? FileManager.default.removeItem(at: folder) }
        var readings: [ProbeReading] = []
        while readings.count < ProbeRounds.maximumRounds {
            readings.append(try await readOnce(folder.appending(path: "probe"), in: folder))
            if ProbeRounds.isSettled(readings) { break }
        }
        guard let fresh = ProbeRounds.profile(from: readings, measuredAt: Date()) else {
            throw HarnessError(.probeFailed, "the machine probe gave no reading")
        }
        guard fresh.peakGflopsAll > 0, fresh.peakGflops1 > 0, fresh.bandwidthGbs1 > 0 else {
            throw HarnessError(.probeFailed, "the machine probe measured zero throughput; is the machine overloaded?")
        }
        let profile = cached().map { MachineProfile.merged(cached: $0, fresh: fresh) } ?? fresh
        do {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let key = try CacheAuthentication.key(in: cacheDirectory)
            try CacheAuthentication.seal(try encoder.encode(profile), key: key).write(to: cacheURL, options: .atomic)
        } catch {
            throw HarnessError(.io, "cannot write \(cacheURL.path)", underlying: error)
        }
        return profile
    }

    /// Runs the built probe once, measuring the load meanwhile (the probe is a child Kiln reaps, so its
    /// own CPU time is not counted as load).
    private func readOnce(_ probe: URL, in folder: URL) async throws(HarnessError) -> ProbeReading {
        let meter = LoadMeter.start()
        let run = try await harnessRun(probe.path, [], timeout: .seconds(120), directory: folder)
        let load = meter.load(scope: "while it ran")
        guard run.isSuccess, let json = run.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw HarnessError(.probeFailed, "the machine probe failed: \(run.output.suffix(500))")
        }
        var reading: ProbeReading
        do {
            reading = try Self.decoder.decode(ProbeReading.self, from: Data(json.utf8))
        } catch {
            throw HarnessError(
                .probeFailed,
                "the machine probe printed unreadable JSON: \(json.prefix(300))",
                underlying: error
            )
        }
        reading.load = load
        return reading
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
