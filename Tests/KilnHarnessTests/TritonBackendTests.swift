import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// The Triton backend through Kiln's own evaluator, on Triton's CPU interpreter (no GPU here): the bundled
/// seeds are correct, each wrong variant of extend attention is caught on some shape, and each hostile
/// candidate class ends as its own verdict with its driver's process group gone.
@Suite(
    .serialized,
    .enabled(if: TritonAvailability.isAvailable, "needs a Python with torch and triton (.ci/run installs one)")
)
struct TritonBackendTests {
    /// A cache of this suite's own, so that no process outliving an evaluation can hide among other suites'.
    static let cache: URL = {
        let url = FileManager.default.temporaryDirectory.appending(path: "kiln-triton-tests-\(getpid())/cache")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static func evaluate(
        _ fixture: URL,
        task name: String = "extend-attention-triton",
        shapes: [String] = [],
        timeout: Duration? = nil,
        settings: [String] = []
    ) async throws -> EvaluationResult {
        let evaluator = Evaluator(cacheDirectory: cache)
        let (task, target) = try await evaluator.prepare(try Fixtures.task(name))
        #expect(target.timingUnavailable != nil || target.device.hasPrefix("cuda"))
        let source = try String(contentsOf: fixture, encoding: .utf8)
        var options = EvaluationOptions()
        options.usesCache = false
        options.callTimeout = timeout
        let space = try TunableSpace.parse(source: source, file: fixture.lastPathComponent)
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: fixture.lastPathComponent,
            configuration: try space.configuration(settings: settings),
            shapes: try task.shapes(named: shapes),
            options: options
        )
        let result = try await evaluator.evaluate(request)
        let left = await Self.processesLeft()
        #expect(left.isEmpty, "\(fixture.lastPathComponent) left processes behind: \(left)")
        return result
    }

    /// Processes still naming this suite's cache (the sandbox launchers of its drivers), after a moment
    /// for the kernel to reap them.
    static func processesLeft() async -> [String] {
        var left: [String] = []
        for _ in 0..<20 {
            left = []
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
                guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
                let line = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
                if line.contains(cache.path) { left.append("\(entry): \(line.prefix(120))") }
            }
            if left.isEmpty { return [] }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return left
    }

    @Test("the bundled seeds pass every interpreter shape, correctness only, with no speed reported")
    func seedsPass() async throws {
        for (task, seed) in [("extend-attention-triton", "gqa_packed.py"), ("rmsnorm-triton", "multi_row.py")] {
            let result = try await Self.evaluate(Fixtures.taskFolder(task).appending(path: "seeds/\(seed)"), task: task)
            #expect(result.verdict == .correct, "\(task): \(result.failure ?? "")")
            #expect(result.shapes.count == (try Fixtures.task(task)).interpreterSuite.count)
            #expect(result.timingUnavailable?.contains("timing unavailable without a GPU") == true)
            #expect(result.geomeanSpeedup == nil)
            #expect(result.shapes.allSatisfy { $0.speedup == nil && $0.checkedCalls >= 2 })
            #expect(result.device == "cpu-interpreter")
        }
    }

    @Test("a seed's other tunable values are passed to its driver and stay correct")
    func tunablesReachTheCandidate() async throws {
        let seed = Fixtures.taskFolder("rmsnorm-triton").appending(path: "seeds/multi_row.py")
        let space = try TunableSpace.parse(source: try String(contentsOf: seed, encoding: .utf8), file: "multi_row.py")
        let tunable = try #require(space.tunables.first { $0.values.count > 1 })
        let result = try await Self.evaluate(
            seed,
            task: "rmsnorm-triton",
            shapes: ["tiny-odd-bf16"],
            settings: ["\(tunable.name)=\(tunable.values[1])"]
        )
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
        #expect(result.configuration.values[tunable.name] == tunable.values[1])
        let undeclared = try await Self.evaluate(
            TritonAvailability.fixture("honest/tunable_probe.py"),
            task: "rmsnorm-triton",
            shapes: ["tiny-fp16"]
        )
        #expect(undeclared.verdict != .buildFailed, "\(undeclared.failure ?? "")")
    }

    @Test(
        "each wrong variant of extend attention fails the oracle's check by far on some shape",
        arguments: [
            ("no_causal.py", "tiny-prefill"), ("no_logit_cap.py", "tiny-capped"), ("wrong_gqa.py", "tiny-prefill"),
            ("contiguous_prefix.py", "tiny-mixed"),
        ]
    )
    func wrongVariants(fixture: String, shape: String) async throws {
        let result = try await Self.evaluate(TritonAvailability.fixture("wrong/\(fixture)"), shapes: [shape])
        #expect(result.verdict == .wrongResult, "\(fixture): \(result.failure ?? "")")
        #expect(result.failure?.contains("max abs error") == true, "\(fixture): \(result.failure ?? "")")
        #expect(result.failure?.contains("o_extend[") == true, "the worst element by its coordinates")
        let error = try #require(result.shapes.first?.maxAbsError)
        #expect(error > 0.05, "\(fixture) is off by \(error) only")
    }

    @Test(
        "each hostile candidate class ends as a verdict that names it, its process group gone",
        arguments: [
            ("imports_os.py", Verdict.integrityViolation, "import of 'os' is not allowed"),
            ("raises.py", .crashed, "raised ValueError"),
            ("bad_grid.py", .wrongResult, "NaN"),
            ("writes_out_of_bounds.py", .integrityViolation, "wrote outside o_extend"),
            ("returns_new_tensor.py", .integrityViolation, "returned a Tensor"),
            ("replaces_output.py", .integrityViolation, "replaced or resized o_extend"),
            ("torch_matmul.py", .integrityViolation, "'torch.matmul' is not allowed"),
            ("sdpa.py", .integrityViolation, "torch.nn.functional"),
            ("method_matmul.py", .integrityViolation, "torch op aten."),
            ("swallows_violation.py", .integrityViolation, "torch op aten.mm"),
            ("modifies_inputs.py", .integrityViolation, "modified its inputs"),
            ("caches_by_pointer.py", .wrongResult, "changed in a few places"),
            ("skips_repeat.py", .wrongResult, "NaN"),
            ("hangs.py", .timedOut, "process group were killed"),
        ]
    )
    func hostile(fixture: String, verdict: Verdict, reason: String) async throws {
        let result = try await Self.evaluate(
            TritonAvailability.fixture("hostile/\(fixture)"),
            shapes: ["tiny-prefill"],
            // Long enough for an interpreted call on a machine busy with the rest of the suite (one took over
            // 5 s in a CI rehearsal); only hangs.py waits it out.
            timeout: .seconds(15)
        )
        #expect(result.verdict == verdict, "\(fixture): \(result.failure ?? "")")
        #expect(result.failure?.contains(reason) == true, "\(fixture): \(result.failure ?? "")")
    }

    @Test("a wrong RMSNorm (no epsilon) fails the second Triton task's check")
    func wrongRMSNorm() async throws {
        let result = try await Self.evaluate(
            TritonAvailability.fixture("wrong/rmsnorm_no_eps.py"),
            task: "rmsnorm-triton",
            shapes: ["tiny-fp16"]
        )
        #expect(result.verdict == .wrongResult, "\(result.failure ?? "")")
        #expect(result.failure?.contains("at out[") == true, "\(result.failure ?? "")")
    }

    @Test("source that does not compile is a build failure; 'kiln:flags' is refused in a Triton candidate")
    func syntaxAndExit() async throws {
        try await withTemporaryDirectory { folder in
            let signature =
                "def extend_attention(q_extend, k_extend, v_extend, o_extend, k_buffer, v_buffer, qo_indptr, kv_indptr, kv_indices, sm_scale: float, logit_cap: float) -> None"
            let broken = folder.appending(path: "broken.py")
            try Data("\(signature)\n    pass\n".utf8).write(to: broken)
            let syntax = try await Self.evaluate(broken, shapes: ["tiny-prefill"])
            #expect(syntax.verdict == .buildFailed, "\(syntax.failure ?? "")")
            #expect(syntax.failure?.contains("does not compile: syntax error") == true, "\(syntax.failure ?? "")")
            let flags = folder.appending(path: "flags.py")
            try Data("# kiln:flags -O3\n\(signature):\n    pass\n".utf8).write(to: flags)
            let rejected = try await Self.evaluate(flags, shapes: ["tiny-prefill"])
            #expect(rejected.verdict == .buildFailed)
            #expect(rejected.failure?.contains("'kiln:flags' applies to C candidates") == true)
        }
    }

    @Test(
        "a candidate's driver sees the task's signature and instance files and a manifest without shapes, never the oracle"
    )
    func oracleIsOutOfReach() async throws {
        let task = try Fixtures.task("extend-attention-triton")
        let manifest = try #require(task.driverManifest)
        for hidden in ["oracle", "baseline", "suite", "heldout", "interpreter_"] {
            #expect(!manifest.contains(hidden), "the candidate's manifest names \(hidden)")
        }
        #expect(manifest.contains("entry_point") && manifest.contains("[torch]"))
        _ = try await Self.evaluate(TritonAvailability.fixture("hostile/raises.py"), shapes: ["tiny-prefill"])
        let builds = Self.cache.appending(path: "build")
        let folders = try FileManager.default.contentsOfDirectory(atPath: builds.path).filter {
            $0.hasPrefix("triton-")
        }
        #expect(!folders.isEmpty)
        for folder in folders {
            let seen = try FileManager.default.contentsOfDirectory(
                atPath: builds.appending(path: "\(folder)/task").path
            )
            #expect(Set(seen) == ["task.toml", "signature.py", "instance.py"], "\(folder): \(seen)")
        }
    }
}
