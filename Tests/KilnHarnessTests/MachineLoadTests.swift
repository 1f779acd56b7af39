import Foundation
import KilnHarness
import KilnTesting
import Testing

/// The load an evaluation reports and its roofline, on synthetic figures: the busy judgement and its
/// note, the baseline's drift from its history, /proc/stat, the roofline, and what a tool result says
/// of a noisy or failed shape.
@Suite struct MachineLoadTests {
    @Test("a drifting baseline and other processes' CPU make the machine busy, in one line that says so")
    func busyNote() throws {
        let history = [0.80, 0.79, 0.81, 0.80, 0.82]
        let drift = try #require(BaselineHistory.drift(of: 1.25, shape: "prefill", history: history))
        #expect(abs(drift.ratio - 1.25 / 0.80) < 1e-9)
        let load = MachineLoad(
            seconds: 10,
            cores: 2,
            otherCores: 0.9,
            stealCores: 0,
            baseline: drift,
            scope: "during this evaluation"
        )
        #expect(load.isBusy)
        #expect(
            load.note
                == "busy: other processes used 0.90 of 2 cores during this evaluation; baseline took 56% longer than its recent median on 'prefill' (800 ms → 1.25 s)"
        )
        let drifting = MachineLoad(
            seconds: 10,
            cores: 2,
            otherCores: 0.01,
            stealCores: 0,
            baseline: drift,
            scope: "during this evaluation"
        )
        #expect(drifting.isBusy, "a baseline 56% slower than usual is a busy machine, whoever used it")
        let usual = try #require(BaselineHistory.drift(of: 0.805, shape: "prefill", history: history))
        let quiet = MachineLoad(
            seconds: 10,
            cores: 2,
            otherCores: 0.02,
            stealCores: 0,
            baseline: usual,
            scope: "during this evaluation"
        )
        #expect(!quiet.isBusy)
        #expect(
            quiet.note
                == "quiet: other processes used 0.02 of 2 cores during this evaluation; baseline within 3% of its recent median on 'prefill'"
        )
        let stolen = MachineLoad(seconds: 10, cores: 2, otherCores: 0, stealCores: 0.3, scope: "during this shape")
        #expect(stolen.isBusy)
        #expect(stolen.note.contains("the hypervisor took 0.30 of 2 cores (steal time)"))
        #expect(BaselineHistory.drift(of: 1.25, shape: "prefill", history: [0.8, 0.8]) == nil, "too little history")
    }

    @Test("an evaluation's load weighs its shapes by time and names the baseline that drifted most")
    func combining() throws {
        let a = MachineLoad(seconds: 1, cores: 2, otherCores: 0.1, stealCores: 0, scope: "during this shape")
        let b = MachineLoad(
            seconds: 3,
            cores: 2,
            otherCores: 0.5,
            stealCores: 0,
            baseline: .init(shape: "mixed", seconds: 0.6, recentMedianSeconds: 0.5, recentCount: 4),
            scope: "during this shape"
        )
        let both = try #require(MachineLoad.combining([a, b], scope: "during this evaluation"))
        #expect(abs((both.otherCores ?? 0) - 0.4) < 1e-12)
        #expect(both.baseline?.shape == "mixed")
        #expect(both.isBusy)
        #expect(both.note.hasPrefix("busy: other processes used 0.40 of 2 cores during this evaluation"))
    }

    @Test("the baseline's history is kept per identity, authenticated, and a forged one is ignored")
    func history() async throws {
        try await withTemporaryDirectory { folder in
            let history = BaselineHistory(
                directory: folder.appending(path: "baselines"),
                key: try CacheAuthentication.key(in: folder)
            )
            var drifts: [MachineLoad.BaselineDrift?] = []
            for seconds in [0.8, 0.8, 0.8, 1.2] {
                drifts.append(history.record(seconds, shape: "prefill", identity: "a"))
            }
            #expect(drifts.prefix(3).allSatisfy { $0 == nil })
            #expect(abs((drifts[3]?.ratio ?? 0) - 1.5) < 1e-12)
            #expect(history.record(0.8, shape: "prefill", identity: "b") == nil)
            let file = folder.appending(path: "baselines/a.json")
            try Data("kiln-mac-v1 00\n{\"medians\":[9,9,9]}".utf8).write(to: file)
            #expect(history.record(0.8, shape: "prefill", identity: "a") == nil, "a forged history is ignored")
        }
    }

    @Test("/proc/stat's first line gives busy and steal seconds; its cpuN lines the cores")
    func procStat() throws {
        let text = """
            cpu  548489 100 78536 645355 2532 10 499 373 0 0
            cpu0 264327 0 36970 335774 459 0 47 178 0 0
            cpu1 284162 0 41566 309581 2073 0 451 194 0 0
            intr 1234
            """
        let stat = try #require(ProcStat.parse(text, ticksPerSecond: 100))
        #expect(stat.cores == 2)
        #expect(abs(stat.busySeconds - (548489 + 100 + 78536 + 10 + 499) / 100.0) < 1e-9)
        #expect(stat.stealSeconds == 3.73)
        #expect(ProcStat.parse("intr 1\n", ticksPerSecond: 100) == nil)
    }

    static let machine = MachineProfile(
        peakGflops1: 100,
        peakGflopsAll: 200,
        threads: 2,
        bandwidthGbs1: 20,
        bandwidthGbsAll: 25,
        l1dBytes: 0,
        l2Bytes: 0,
        l3Bytes: 0,
        cpuModel: "",
        simd: "avx2"
    )

    @Test("the roofline: a memory-bound shape is judged by GB/s, a compute-bound one by GFLOP/s")
    func roofline() throws {
        let machine = Self.machine
        // Decode-like: 1 operation per byte, 10 GB/s achieved: a 25 GFLOP/s roofline, 40% of it.
        var decode = Self.shape(seconds: 0.1, flops: 1e9, bytes: 1e9)
        decode.applyMachine(machine)
        #expect(decode.achievedGbs == 10)
        #expect(decode.arithmeticIntensity == 1)
        #expect(decode.rooflineGflops == 25)
        #expect(decode.isMemoryBound == true)
        #expect(abs((decode.fractionOfRoofline ?? 0) - 0.4) < 1e-12)
        #expect(decode.rooflineSummary == "10.0 GB/s, 40% of roofline (memory-bound)")
        // Prefill-like: 100 operations per byte, 150 GFLOP/s: bound by the 200 GFLOP/s peak.
        var prefill = Self.shape(seconds: 1, flops: 150e9, bytes: 1.5e9)
        prefill.applyMachine(machine)
        #expect(prefill.rooflineGflops == 200)
        #expect(prefill.isMemoryBound == false)
        #expect(abs((prefill.fractionOfRoofline ?? 0) - 0.75) < 1e-12)
        // No arithmetic (a copy): the bandwidth alone.
        var copy = Self.shape(seconds: 1, flops: 0, bytes: 20e9)
        copy.applyMachine(machine)
        #expect(abs((copy.fractionOfRoofline ?? 0) - 0.8) < 1e-12)
    }

    @Test("an IQR spanning 2.5-5.4x around 3.9x is far past the noisy threshold")
    func wideSpreadIsNoisy() throws {
        // Issue 12's shape: the middle half of the ratios from 2.5x to 5.4x, median 3.9x.
        let spread = try #require(TimingStatistics([2.2, 2.5, 3.9, 5.4, 6.0]).relativeSpread)
        #expect(abs(spread - 2.9 / 3.9) < 1e-12)
        #expect(spread > EvaluationOptions().noisySpread)
        // The harness flagged such shapes, but the agent's and MCP's evaluate results never said so.
        var shape = Self.shape(seconds: 0.01, flops: 1e8, bytes: 1e8)
        shape.speedup = 3.9
        shape.speedupLow = 2.5
        shape.speedupHigh = 5.4
        shape.isNoisy = true
        shape.applyMachine(Self.machine)
        #expect(
            shape.measurementSuffix == ", 10.0 GB/s, 40% of roofline (memory-bound), NOISY (IQR 74% of the speedup)"
        )
    }

    @Test("a failed shape says its verdict: a timing rejection is never labelled a wrong result")
    func failureLabels() {
        var shape = Self.shape(seconds: 1, flops: 1, bytes: 1)
        shape.verdict = .integrityViolation
        #expect(shape.failureLabel == "FAILED (integrity_violation)")
        shape.verdict = .wrongResult
        #expect(shape.failureLabel == "WRONG")
    }

    static func shape(seconds: Double, flops: Double, bytes: Double) -> ShapeResult {
        ShapeResult(
            name: "s",
            parameters: "",
            correct: true,
            failure: nil,
            maxAbsError: 0,
            relL2Error: 0,
            checkedCalls: 1,
            baselineSeconds: seconds,
            candidateSeconds: seconds,
            speedup: 1,
            speedupLow: 1,
            speedupHigh: 1,
            pairs: 5,
            isNoisy: false,
            gflops: nil,
            fractionOfPeak: nil,
            flops: flops,
            bytes: bytes,
            notes: []
        )
    }
}
