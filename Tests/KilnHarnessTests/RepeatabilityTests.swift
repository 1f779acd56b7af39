import KilnHarness
import Testing

/// `kiln-bench eval`'s judgement of repeated evaluations: the spread of the geometric means, set beside
/// how far the baseline and the machine's own rates moved between them.
@Suite
struct RepeatabilityTests {
    static func reading(fma: Double = 260, one: Double = 40, all: Double = 42) -> MachineProfile {
        MachineProfile(
            peakGflops1: fma / 2,
            peakGflopsAll: fma,
            threads: 2,
            bandwidthGbs1: one,
            bandwidthGbsAll: all,
            l1dBytes: 0,
            l2Bytes: 0,
            l3Bytes: 0,
            cpuModel: "",
            simd: "avx2",
            measuredAt: nil
        )
    }

    static func record(_ geomeans: [Double], readings: [MachineProfile?], busy: Int = 0) -> Repeatability {
        var record = Repeatability()
        for (index, geomean) in geomeans.enumerated() {
            record.add(
                geomean: geomean,
                baselineSeconds: ["a": 0.010 * (1 + Double(index) * 0.01), "b": 0.5],
                wasBusy: index < busy,
                reading: readings[index]
            )
        }
        return record
    }

    @Test("geometric means within the target on a steady machine repeat")
    func repeats() throws {
        let record = Self.record([8.00, 8.08, 8.05], readings: [Self.reading(), Self.reading(), Self.reading()])
        #expect(abs(try #require(record.geomeanSpread) - 0.01) < 1e-9)
        let moves = try #require(record.baselineMoves)
        #expect(abs(moves.largest - 0.02) < 1e-9)
        #expect(abs(moves.median - 0.02) < 1e-9, "the median of [0, 0.02] is the upper one")
        let lines = record.summary(target: 0.02)
        #expect(lines.first?.hasPrefix("geometric means differ by at most 1.0% over 3 evaluations") == true)
        #expect(lines.contains { $0.contains("moved by up to 2.0%") })
        #expect(lines.contains { $0.contains("all-core FMA 260-260 GFLOP/s (moved 0.0%)") })
        #expect(lines.last == "verdict: repeats within 2% (1.0%)")
    }

    @Test("a spread beyond the target is put down to the machine when its memory bandwidth moved more")
    func unsteadyMachine() throws {
        let record = Self.record(
            [7.85, 8.29, 8.05],
            readings: [Self.reading(one: 44.8), Self.reading(one: 34.4), Self.reading(one: 38)]
        )
        let machine = try #require(record.machineMoves)
        #expect(abs(machine.bandwidth1 - (44.8 / 34.4 - 1)) < 1e-9)
        #expect(machine.fmaAll == 0)
        let verdict = try #require(record.summary(target: 0.02).last)
        #expect(verdict.hasPrefix("verdict: not within 2% (5.6%), and the machine itself was not steady"))
        #expect(verdict.contains("its memory bandwidth moved 30.2% between evaluations"))
    }

    @Test("a baseline that moved more than the target is the machine's doing, even when the probe read it steady")
    func baselineMoved() throws {
        var record = Repeatability()
        for (index, geomean) in [8.4, 8.3, 7.67].enumerated() {
            record.add(
                geomean: geomean,
                baselineSeconds: ["a": 0.010 * (1 + Double(index) * 0.05), "b": 0.5 * (1 + Double(index) * 0.04)],
                wasBusy: false,
                reading: Self.reading()
            )
        }
        let verdict = try #require(record.summary(target: 0.02).last)
        #expect(verdict.hasPrefix("verdict: not within 2% (9.5%), and the machine itself was not steady"))
        #expect(verdict.contains("the baseline's own time moved 10.0% (median over shapes)"), "\(verdict)")
    }

    @Test("a spread beyond the target on a steady machine is the harness's, and is said to be")
    func harnessNoise() throws {
        let record = Self.record([7.85, 8.29], readings: [Self.reading(), Self.reading(fma: 261, one: 40.2)])
        let verdict = try #require(record.summary(target: 0.02).last)
        #expect(verdict.contains("although the controls read the machine steady to within 2%"))
        #expect(verdict.contains("the harness's or the candidate's"))
    }

    @Test("a busy evaluation, or a missing control, is never called a quiet-machine result")
    func busyOrUncontrolled() throws {
        let busy = Self.record([8.0, 8.01], readings: [Self.reading(), Self.reading()], busy: 1)
        #expect(
            busy.summary(target: 0.02).last
                == "verdict: repeats within 2% (0.1%), but not as a quiet-machine figure: Kiln judged the machine busy during 1 of the evaluations (see each one's load)"
        )
        let busyAndApart = Self.record([8.0, 8.6], readings: [Self.reading(), Self.reading()], busy: 2)
        #expect(
            busyAndApart.summary(target: 0.02).last?.hasPrefix(
                "verdict: not within 2% (7.5%), and not a quiet-machine figure"
            ) == true
        )
        let uncontrolled = Self.record([7.0, 8.0], readings: [nil, nil])
        #expect(uncontrolled.machineMoves == nil)
        // Without a probe the baseline is the only control; it moved 1% on one shape here, so the spread is
        // put down to the harness.
        #expect(
            uncontrolled.summary(target: 0.02).last?.contains("although the controls read the machine steady") == true
        )
        var bare = Repeatability()
        bare.add(geomean: 7, baselineSeconds: [:], wasBusy: false, reading: nil)
        bare.add(geomean: 8, baselineSeconds: [:], wasBusy: false, reading: nil)
        #expect(bare.summary(target: 0.02).last == "verdict: not within 2% (14.3%); no control was taken")
        #expect(!uncontrolled.summary(target: 0.02).contains { $0.contains("the probe before each") })
        #expect(Repeatability().summary(target: 0.02).isEmpty)
        #expect(
            Self.record([8.0], readings: [Self.reading()]).summary(target: 0.02) == [
                "one evaluation: pass --repeats 2 or more to see how far they repeat"
            ]
        )
    }
}
