import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// Each hostile fixture tries one attack on the cheap matmul task (the classes of the red-team pass in
/// issue 10, plus the older cheats); each must end as a failure that names it, or measure no gain, with
/// the host unharmed: no SysV segment, no file, no host name, no cached result changed.
@Suite(.timeLimit(.minutes(5)))
struct IntegrityTests {
    static func evaluate(
        _ fixture: String,
        timed: Bool = false,
        timeout: Duration? = nil,
        configuration: [String] = [],
        shapes: [String] = []
    ) async throws -> EvaluationResult {
        let task = try Fixtures.task("matmul")
        let source = try Fixtures.source(fixture.contains("/") ? fixture : "hostile/\(fixture)")
        var options = EvaluationOptions()
        options.usesCache = false
        options.isCorrectnessOnly = !timed
        options.minPairs = 3
        options.maxPairs = 3
        options.callTimeout = timeout
        let space = try TunableSpace.parse(source: source, file: fixture)
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: fixture,
            configuration: try space.configuration(settings: configuration, flagSet: nil),
            shapes: try task.shapes(named: shapes),
            options: options
        )
        let before = try HostSnapshot(cache: Fixtures.sharedCache)
        let result = try await Evaluator(cacheDirectory: Fixtures.sharedCache).evaluate(request)
        let after = try HostSnapshot(cache: Fixtures.sharedCache)
        #expect(after.unharmed(since: before), "\(fixture): \(after.differences(from: before))")
        return result
    }

    @Test(
        "a cheat found on the first call ends as a named failure",
        arguments: [
            ("no_write.c", Verdict.wrongResult, "NaN"),
            ("partial_write.c", .wrongResult, "NaN"),
            ("modify_input.c", .integrityViolation, "modified its inputs"),
            ("segfault.c", .crashed, "segmentation fault"),
            ("abort.c", .crashed, "SIGABRT"),
            ("fork_child.c", .integrityViolation, "forbidden system call (clone"),
            ("late_writer.c", .wrongResult, "NaN"),
            ("exit_early.c", .integrityViolation, "exit status 0"),
            ("reads_proc.c", .wrongResult, "max abs error"),
            ("huge_alloc.c", .wrongResult, "max abs error"),
            ("clock_override.c", .integrityViolation, "clock_gettime"),
            ("constructor.c", .integrityViolation, "constructors"),
            ("missing_entry.c", .buildFailed, "does not define"),
            ("fake_timer.c", .integrityViolation, "control pipe"),
            ("syntax_error.c", .buildFailed, "error"),
            ("patch_code.c", .integrityViolation, "mprotect (executable)"),
        ]
    )
    func firstCallCheats(fixture: String, verdict: Verdict, reason: String) async throws {
        let result = try await Self.evaluate(fixture)
        #expect(result.verdict == verdict, "\(fixture): \(result.failure ?? "no failure")")
        #expect(!result.correct)
        #expect(result.geomeanSpeedup == nil)
        #expect(result.failure?.contains(reason) == true, "\(fixture): \(result.failure ?? "no failure")")
    }

    @Test(
        "each attack class of the red-team pass ends as a failure that names it",
        arguments: [
            ("signal_siblings.c", Verdict.integrityViolation, "kill (another process)"),
            ("forge_done.c", .wrongResult, "NaN"),
            ("relay_protocol.c", .integrityViolation, "forbidden system call (dup"),
            ("read_oracle.c", .integrityViolation, "io_uring_setup"),
            ("poison_cache.c", .integrityViolation, "getdents64"),
            ("shm_exec.c", .integrityViolation, "shmget"),
            ("sysv_hog.c", .integrityViolation, "shmget"),
            ("exec_stack.c", .integrityViolation, "executable stack"),
            ("include_passwd.c", .integrityViolation, "absolute path"),
            ("include_zero.c", .buildFailed, "No such file"),
            ("syntax_only.c", .buildFailed, "made no object file"),
            ("flood.c", .integrityViolation, "control pipe"),
        ]
    )
    func attackClasses(fixture: String, verdict: Verdict, reason: String) async throws {
        let result = try await Self.evaluate(fixture)
        #expect(result.verdict == verdict, "\(fixture): \(result.failure ?? "no failure")")
        #expect(result.failure?.contains(reason) == true, "\(fixture): \(result.failure ?? "no failure")")
    }

    @Test("the compiler sees neither the oracle nor the host: an include of the oracle fails and quotes nothing")
    func compilerSeesNoOracle() async throws {
        let result = try await Self.evaluate("include_oracle.c")
        #expect(result.verdict == .buildFailed, "\(result.failure ?? "")")
        #expect(result.buildLog.contains("No such file"))
        let oracle = try String(contentsOf: Fixtures.taskFolder("matmul").appending(path: "oracle.c"), encoding: .utf8)
        let distinctive = try #require(
            oracle.split(separator: "\n").first { $0.contains("double") || $0.contains("for (") }
        )
        #expect(!result.buildLog.contains(distinctive.trimmingCharacters(in: .whitespaces)))
    }

    @Test(
        "no escape from the file system leaves a trace, as root or not",
        arguments: Array(0...10)
    )
    func fileSystemEscapes(attack: Int) async throws {
        let result = try await Self.evaluate("escape_fs.c", configuration: ["ESCAPE=\(attack)"])
        #expect(!result.correct)
        if attack < 10 {
            #expect(result.verdict == .integrityViolation, "escape \(attack): \(result.failure ?? "")")
            #expect(
                result.failure?.contains("forbidden system call") == true,
                "escape \(attack): \(result.failure ?? "")"
            )
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/kiln-hostile-escape"))
    }

    @Test("nothing it may read holds a command or a seed of a later input set")
    func inputsCannotBePredicted() async throws {
        let result = try await Self.evaluate("seek_inputs.c")
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
    }

    @Test(
        "work moved outside the call (into the driver, after the return, or onto the baseline's time) measures no gain, and no thread it left running outlives its sandbox",
        arguments: ["hook_driver.c", "spin_baseline.c", "lingering_thread.c"]
    )
    func noGainFromLateWork(fixture: String) async throws {
        let result = try await Self.evaluate(fixture, timed: true, shapes: ["square-256"])
        if fixture == "spin_baseline.c" {
            // Its threads (named hostile-spin, and only this test runs it: the count is machine-wide) are
            // frozen with it and die with its sandbox.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while HostSnapshot.threads(named: "hostile-spin") > 0, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(HostSnapshot.threads(named: "hostile-spin") == 0)
        }
        // A thread still spinning when the call returns is either caught burning CPU before its freeze
        // (a busy machine delays the freeze) or frozen with it; either way it gains nothing.
        if result.verdict == .integrityViolation {
            #expect(
                result.failure?.contains("kept working after returning") == true,
                "\(fixture): \(result.failure ?? "")"
            )
            return
        }
        #expect(result.verdict == .correct, "\(fixture): \(result.failure ?? "")")
        // The candidate runs the baseline's own loop, so an attack that moved work out of the timed call
        // would show a candidate using a fraction of the baseline's CPU per call. CPU time, from the kernel's
        // accounting, does not depend on how busy the machine (running other tests) is.
        let shape = try #require(result.shapes.first)
        let baseline = try #require(shape.baselineCPUSeconds)
        let candidate = try #require(shape.candidateCPUSeconds)
        #expect(
            candidate > baseline * 0.6,
            "\(fixture): \(candidate) s of CPU per call against the baseline's \(baseline) s"
        )
    }

    @Test(
        "answers cached across calls, keyed on pointers or on a sample of the inputs, are caught",
        arguments: [
            "pointer_cache.c", "sample_cache.c", "first_call_only.c",
        ]
    )
    func laterCallCheats(fixture: String) async throws {
        let result = try await Self.evaluate(fixture)
        #expect(result.verdict == .wrongResult, "\(fixture): \(result.failure ?? "no failure")")
        #expect(result.failure?.contains("inputs changed in a few places") == true)
    }

    @Test("an endless loop is killed with its sandbox at the deadline")
    func endlessLoop() async throws {
        let result = try await Self.evaluate("infinite_loop.c", timeout: .seconds(1))
        #expect(result.verdict == .timedOut)
        #expect(result.failure?.contains("within 1 s") == true, "\(result.failure ?? "")")
        #expect(result.failure?.contains("process group were killed") == true)
    }

    @Test("a candidate that prints things that look like results is judged on its outputs alone")
    func printsResults() async throws {
        let result = try await Self.evaluate("prints_results.c", timed: true)
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
        #expect(result.shapes.allSatisfy { $0.checkedCalls >= 3 })
    }

    @Test("a correct but slow candidate is correct, and uses more CPU per call than the baseline")
    func slowCorrect() async throws {
        let result = try await Self.evaluate("slow_correct.c", timed: true)
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
        for shape in result.shapes {
            let baseline = try #require(shape.baselineCPUSeconds)
            let candidate = try #require(shape.candidateCPUSeconds)
            #expect(candidate > baseline, "\(shape.name): \(candidate) s of CPU per call against \(baseline) s")
        }
    }

    @Test(
        "honest kernels that do what real kernels do pass: TLS and static scratch, many threads, big stacks, asking the system",
        arguments: [
            "tls_scratch.c", "many_threads.c", "big_static.c", "aligned_scratch.c", "big_stack.c", "asks_the_system.c",
        ]
    )
    func honestKernels(fixture: String) async throws {
        let result = try await Self.evaluate("honest/\(fixture)", timed: fixture == "tls_scratch.c")
        #expect(result.verdict == .correct, "\(fixture): \(result.failure ?? "")")
    }
}

/// What a hostile candidate could change outside its sandbox, read before and after an evaluation.
struct HostSnapshot: Equatable {
    var sharedMemorySegments: Int
    var hostName: String
    var escapeFileExists: Bool
    /// Every cached result that existed, with its size and modification time.
    var cachedResults: [String: String]

    init(cache: URL) throws {
        let shm = (try? String(contentsOfFile: "/proc/sysvipc/shm", encoding: .utf8)) ?? ""
        sharedMemorySegments = max(shm.split(separator: "\n").count - 1, 0)
        hostName = ProcessInfo.processInfo.hostName
        escapeFileExists = FileManager.default.fileExists(atPath: "/tmp/kiln-hostile-escape")
        let results = cache.appending(path: "results")
        var entries: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: results.path)) ?? [] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: results.appending(path: name).path)
            entries[name] = "\(attributes?[.size] ?? 0) \(attributes?[.modificationDate] ?? "")"
        }
        cachedResults = entries
    }

    /// True when nothing that existed before changed (new cached results may appear).
    func unharmed(since before: HostSnapshot) -> Bool {
        sharedMemorySegments <= before.sharedMemorySegments && hostName == before.hostName
            && escapeFileExists == before.escapeFileExists
            && before.cachedResults.allSatisfy { cachedResults[$0.key] == $0.value }
    }

    func differences(from before: HostSnapshot) -> String {
        var out: [String] = []
        if sharedMemorySegments > before.sharedMemorySegments {
            out.append("SysV segments \(before.sharedMemorySegments) -> \(sharedMemorySegments)")
        }
        if hostName != before.hostName { out.append("host name \(before.hostName) -> \(hostName)") }
        if escapeFileExists != before.escapeFileExists { out.append("/tmp/kiln-hostile-escape appeared") }
        let changed = before.cachedResults.filter { cachedResults[$0.key] != $0.value }.map(\.key)
        if !changed.isEmpty { out.append("cached results changed: \(changed.sorted().prefix(3))") }
        return out.joined(separator: "; ")
    }

    /// How many threads on the host carry this name.
    static func threads(named name: String) -> Int {
        var count = 0
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
            for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
                let comm = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)) ?? ""
                if comm.trimmingCharacters(in: .whitespacesAndNewlines) == name { count += 1 }
            }
        }
        return count
    }
}
