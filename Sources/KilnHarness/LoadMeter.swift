import Foundation
import KilnCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The machine-wide CPU counters of `/proc/stat`'s first line, in seconds.
package struct ProcStat: Sendable, Hashable {
    /// CPU time spent running anything, all CPUs together: user, nice, system, irq and softirq (guest time
    /// is part of user time), seconds.
    package var busySeconds: Double
    /// Time the hypervisor ran something else while a CPU of this machine wanted to run (steal), seconds;
    /// nil when the kernel does not report it.
    package var stealSeconds: Double?
    /// The CPUs listed (`cpuN` lines).
    package var cores: Int

    /// Parses `/proc/stat`.
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - ticksPerSecond: the kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`, usually 100).
    /// - Returns: the counters, or nil when the text has no `cpu` line.
    package static func parse(_ text: String, ticksPerSecond: Double) -> ProcStat? {
        var total: [Double]?
        var cores = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let name = fields.first, name.hasPrefix("cpu") else { continue }
            if name == "cpu" {
                total = fields.dropFirst().map { Double($0) ?? 0 }
            } else if name.dropFirst(3).allSatisfy(\.isNumber) {
                cores += 1
            }
        }
        guard let total, total.count >= 4, ticksPerSecond > 0 else { return nil }
        func field(_ index: Int) -> Double { index < total.count ? total[index] : 0 }
        // user nice system idle iowait irq softirq steal guest guest_nice
        let busy = field(0) + field(1) + field(2) + field(5) + field(6)
        return ProcStat(
            busySeconds: busy / ticksPerSecond,
            stealSeconds: total.count > 7 ? field(7) / ticksPerSecond : nil,
            cores: max(cores, 1)
        )
    }

    /// The counters now, or nil where `/proc/stat` cannot be read.
    /// - Returns: them.
    static func now() -> ProcStat? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return parse(text, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}

/// The CPU time of the workers Kiln's monitors start and kill (they are never reaped by Kiln, so
/// `getrusage` cannot see them): each call's CPU time as the monitor reports it, summed.
package final class WorkerCPUTally: Sendable {
    private let total = Mutex(0.0)

    /// Creates an empty tally.
    package init() {}

    /// Adds a call's CPU time.
    /// - Parameter nanoseconds: the monitor's `cpu_ns` field, when it has one.
    package func add(nanoseconds: String?) {
        guard let nanoseconds, let value = Double(nanoseconds), value > 0, value.isFinite else { return }
        total.withLock { $0 += value * 1e-9 }
    }

    /// The CPU time added so far, seconds.
    package var seconds: Double { total.withLock { $0 } }
}

/// Measures how much CPU time processes other than Kiln used over an interval.
///
/// Method: the machine's busy CPU time over the interval (`/proc/stat`: user, nice, system, irq and
/// softirq of all CPUs) less Kiln's own: this process's CPU time and that of its children it has reaped
/// (`getrusage` `RUSAGE_SELF` and `RUSAGE_CHILDREN`: compilers, the probe, the monitors), plus what the
/// caller adds for descendants Kiln never reaps (the sandboxed workers, which die with their monitor;
/// ``WorkerCPUTally``). The remainder over the wall time is the cores other processes kept busy. It is
/// an estimate: the kernel counts in ticks (10 ms per CPU), a child is only counted once reaped, and a
/// worker's time outside its calls (its start-up) is missed, so it reads a little high on a quiet
/// machine: the quietest evaluation seen on a shared 2-core machine read 0.09 cores, part of which may
/// have been real. Steal time is the same difference of `/proc/stat`'s counters.
package struct LoadMeter: Sendable {
    private let started: ContinuousClock.Instant
    private let stat: ProcStat?
    private let ownSeconds: Double

    private init(started: ContinuousClock.Instant, stat: ProcStat?, ownSeconds: Double) {
        self.started = started
        self.stat = stat
        self.ownSeconds = ownSeconds
    }

    /// Starts measuring now.
    /// - Returns: the meter.
    package static func start() -> LoadMeter {
        LoadMeter(started: ContinuousClock.now, stat: ProcStat.now(), ownSeconds: Self.ownCPUSeconds())
    }

    /// The load since ``start()``.
    /// - Parameters:
    ///   - unreapedSeconds: CPU time of Kiln's descendants that `getrusage` cannot see, seconds.
    ///   - baseline: the baseline's drift over the interval, when known.
    ///   - scope: what was observed, for the note.
    /// - Returns: the load.
    package func load(
        unreapedSeconds: Double = 0,
        baseline: MachineLoad.BaselineDrift? = nil,
        scope: String
    ) -> MachineLoad {
        let wall = (ContinuousClock.now - started).inSeconds
        let end = ProcStat.now()
        let own = Self.ownCPUSeconds() - ownSeconds + unreapedSeconds
        var other: Double?
        var steal: Double?
        if let stat, let end, wall > 0 {
            other = (end.busySeconds - stat.busySeconds - own) / wall
            if let before = stat.stealSeconds, let after = end.stealSeconds { steal = (after - before) / wall }
        }
        return MachineLoad(
            seconds: wall,
            cores: end?.cores ?? stat?.cores ?? ProcessInfo.processInfo.activeProcessorCount,
            otherCores: other,
            stealCores: steal,
            baseline: baseline,
            scope: scope
        )
    }

    /// This process's CPU time and that of its reaped children, seconds.
    static func ownCPUSeconds() -> Double {
        func seconds(_ usage: rusage) -> Double {
            func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) * 1e-6 }
            return value(usage.ru_utime) + value(usage.ru_stime)
        }
        var own = rusage()
        var children = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &own) == 0, getrusage(RUSAGE_CHILDREN.rawValue, &children) == 0 else {
            return 0
        }
        return seconds(own) + seconds(children)
    }
}
