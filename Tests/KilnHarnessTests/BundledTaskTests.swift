import Foundation
import KilnHarness
import KilnTask
import KilnTesting
import Testing

/// The bundled tasks are correct, their seeds pass every shape, and every feature of the
/// extend-attention signature matters: a candidate that ignores one fails on a suite shape. (The suite's
/// limit bounds each test's: the seeds on every shape took 4 to 5 minutes under the whole suite's load.)
@Suite(.timeLimit(.minutes(10)))
struct BundledTaskTests {
    static func check(task name: String, candidate: URL, shapes: [String]) async throws -> EvaluationResult {
        let task = try Fixtures.task(name)
        let source = try String(contentsOf: candidate, encoding: .utf8)
        var options = EvaluationOptions()
        options.isCorrectnessOnly = true
        let space = try TunableSpace.parse(source: source, file: candidate.lastPathComponent)
        let request = EvaluationRequest(
            task: task,
            source: source,
            candidateName: candidate.lastPathComponent,
            configuration: space.defaultConfiguration,
            shapes: try task.shapes(named: shapes),
            options: options
        )
        return try await Evaluator(cacheDirectory: Fixtures.sharedCache).evaluate(request)
    }

    @Test(
        "a candidate that ignores one feature of extend attention fails on a suite shape",
        arguments: [
            ("no_logit_cap.c", "capped"),
            ("wrong_gqa.c", "decode-like"),
            ("contiguous_prefix.c", "decode-like"),
            ("no_causal.c", "mha"),
        ]
    )
    func wrongCandidates(fixture: String, shape: String) async throws {
        let task = try Fixtures.task("extend-attention")
        #expect(task.suite.contains { $0.name == shape })
        let result = try await Self.check(
            task: "extend-attention",
            candidate: Fixtures.file("extend-attention/\(fixture)"),
            shapes: [shape]
        )
        #expect(result.verdict == .wrongResult, "\(fixture): \(result.failure ?? "passed")")
    }

    @Test(
        "the bf16 in-place rmsnorm seed without eps, without the weight, or not writing the residual fails by far",
        arguments: [
            ("+ eps)", ")", "input["),
            (" * kiln_bf16_to_f32(weight[j])", "", "input["),
            ("res[j + l] = rounded;", "", "residual["),
        ]
    )
    func wrongRMSNorm(dropping: String, for replacement: String, element: String) async throws {
        let task = try Fixtures.task("rmsnorm-bf16")
        let seed = try String(contentsOf: task.url(of: "seeds/rows.c"), encoding: .utf8)
        #expect(seed.contains(dropping))
        try await withTemporaryDirectory { folder in
            let variant = folder.appending(path: "variant.c")
            try seed.replacingOccurrences(of: dropping, with: replacement).write(
                to: variant,
                atomically: true,
                encoding: .utf8
            )
            let result = try await Self.check(task: "rmsnorm-bf16", candidate: variant, shapes: ["decode-batch"])
            #expect(result.verdict == .wrongResult, "without \(dropping): \(result.failure ?? "passed")")
            let failure = result.failure ?? ""
            #expect(failure.contains(element) && failure.contains("tolerance for bfloat16"), "\(failure)")
        }
    }

    @Test("a straightforward correct candidate passes")
    func naive() async throws {
        let result = try await Self.check(
            task: "extend-attention",
            candidate: Fixtures.file("extend-attention/naive.c"),
            shapes: ["decode-like", "mha"]
        )
        #expect(result.verdict == .correct, "\(result.failure ?? "")")
    }

    @Test(
        "each bundled seed design is correct on every suite and held-out shape",
        arguments: ["extend-attention", "matmul", "rmsnorm-bf16"]
    )
    func seeds(task name: String) async throws {
        let task = try Fixtures.task(name)
        for seed in task.seeds {
            let result = try await Self.check(
                task: name,
                candidate: task.url(of: seed),
                shapes: (task.suite + task.heldout).map(\.name)
            )
            #expect(result.verdict == .correct, "\(seed): \(result.failure ?? "")")
            #expect(result.shapes.count == task.suite.count + task.heldout.count)
        }
    }
}

/// The baseline's own figures, measured through the harness (what `describe_task` reports).
@Suite(.timeLimit(.minutes(5)))
struct BaselineFigureTests {
    @Test("a task's baseline figures cover every suite shape, agree with its FLOP count, and are cached")
    func figures() async throws {
        let task = try Fixtures.task("matmul")
        var options = EvaluationOptions()
        options.minPairs = 2
        options.maxPairs = 2
        try await withTemporaryDirectory { folder in
            let evaluator = Evaluator(cacheDirectory: try await Fixtures.freshCache(in: folder))
            let first = try await evaluator.baselineFigures(for: task, options: options)
            #expect(!first.isCached)
            #expect(first.shapes.map(\.name) == task.suite.map(\.name))
            for shape in first.shapes {
                #expect(shape.seconds > 0)
                #expect(abs(shape.gflops - shape.flops / shape.seconds / 1e9) < 1e-9 * max(shape.gflops, 1))
                #expect(shape.fractionOfPeak > 0 && shape.fractionOfPeak < 1)
                #expect(shape.calls >= 2)
            }
            let again = try await evaluator.baselineFigures(for: task, options: options)
            #expect(again.isCached)
            #expect(again.shapes == first.shapes)
        }
    }

    @Test("a baseline that fails its own oracle is reported as a broken task")
    func brokenBaseline() async throws {
        try await withTemporaryDirectory { folder in
            let copy = folder.appending(path: "matmul")
            try FileManager.default.copyItem(at: Fixtures.taskFolder("matmul"), to: copy)
            try FileManager.default.removeItem(at: copy.appending(path: "baseline.c"))
            try FileManager.default.copyItem(
                at: Fixtures.file("hostile/no_write.c"),
                to: copy.appending(path: "baseline.c")
            )
            let task = try KernelTask.load(from: copy)
            var options = EvaluationOptions()
            options.minPairs = 2
            options.maxPairs = 2
            let error = await #expect(throws: HarnessError.self) {
                try await Evaluator(cacheDirectory: Fixtures.sharedCache).baselineFigures(for: task, options: options)
            }
            #expect(error?.code == .taskBroken)
            let message = error?.message ?? ""
            #expect(message.contains("baseline disagrees with its oracle"), "\(message)")
        }
    }
}
