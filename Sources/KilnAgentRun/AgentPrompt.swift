import Foundation
import KilnAgent
import KilnHarness
import KilnRun
import KilnTask

/// The system prompt of an agent run: the goal as Kiln scores it, the task, the starting point's
/// figures, the machine, the rules, and how the budgets are counted.
enum AgentPrompt {
    /// The system prompt.
    /// - Parameters:
    ///   - task: the task.
    ///   - settings: the run's settings (machine, budgets).
    ///   - startingPoint: the seed's evaluation as ``startingPoint(_:path:machine:)`` words it; nil when
    ///     none was made.
    ///   - target: what the task's backend offers here (its device, whether it times).
    /// - Returns: the prompt.
    static func system(task: KernelTask, settings: RunSettings, startingPoint: String?, target: BackendTarget? = nil)
        -> String
    {
        let header = (try? String(contentsOf: task.url(of: task.header), encoding: .utf8)) ?? ""
        let shapes = task.suite.map { "- \($0.name): \($0.summary)" }.joined(separator: "\n")
        let machine = settings.machine
        let isC = task.backend == .c
        let baseline =
            isC
            ? "a straightforward implementation built with \(task.build.compiler) \(task.build.baselineFlags.joined(separator: " ")), on one thread. Candidates default to \(task.build.flags.joined(separator: " ")); OpenMP is available."
            : "the task's reference Triton implementation."
        let device =
            isC
            ? "\(machine.cpuModel), \(machine.simd), \(machine.threads) threads; fp32 FMA peak \(Int(machine.peakGflops1)) GFLOP/s on one core, \(Int(machine.peakGflopsAll)) on all; STREAM triad memory bandwidth \(String(format: "%.1f", machine.bandwidthGbs1)) GB/s on one thread, \(String(format: "%.1f", machine.bandwidthGbsAll)) on all; L1d \(machine.l1dBytes >> 10) KiB, L2 \(machine.l2Bytes >> 10) KiB, L3 \(machine.l3Bytes >> 20) MiB."
            : "\(target?.device ?? "the task's device")\(target?.timingUnavailable.map { ": \($0). Every evaluation here is correct or not; none is faster than another, so aim for a design that is correct on every shape and that you expect to be fast on a GPU." } ?? ".")"
        let tolerances =
            ([("", task.tolerance)] + task.tolerancesByDtype.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            .map { name, limits in
                "\(name.isEmpty ? "" : "\(name) ")max abs \(limits.maxAbs), relative L2 \(limits.relL2)"
            }
            .joined(separator: "; ")
        return """
            You are Kiln's kernel engineer. Your goal: an implementation of the \(isC ? "C" : "Triton (Python)") function `\(task.entryPoint)` that is correct and as fast as possible on this machine. Kiln scores a candidate by its speedup over the task's baseline: on each suite shape, the baseline's time over the candidate's, each the lower decile of its calls (timed interleaved, on fresh inputs: what disturbs a call only adds time); overall, their geometric mean over the whole suite. At the end, the fastest full-suite candidates are checked on held-out shapes and the fastest that passes wins.

            ## Task: \(task.name)
            \(task.summary)

            The entry point (\(task.header), in your workspace):
            ```\(isC ? "c" : "python")
            \(header)
            ```

            ## Suite (every full evaluation runs all of these)
            \(shapes)
            Speedups are measured against the task's baseline (\(task.baseline)), \(baseline)

            ## Starting point
            \(startingPoint ?? "Not measured: no seed was evaluated before you began (evaluate one of seeds/ for the baseline's figures and the noise level).")

            ## \(isC ? "Machine (measured by Kiln)" : "Device")
            \(device)

            ## Rules
            \(TaskBrief.rules(for: task).map { "- \($0)" }.joined(separator: "\n"))
            - `evaluate` checks a candidate against a hidden double-precision oracle on fresh random inputs (tolerance: \(tolerances)) and times it interleaved with the baseline. You have no access to the oracle. \(task.heldout.isEmpty ? "This task has no held-out shapes, but" : "\(task.heldout.count) held-out shapes (other sizes) exist and are checked at the end:") do not specialise to the suite's sizes.
            - `tune` searches a candidate's declared tunables for you; spend your own calls on structural redesigns, and start each redesign with `new_track`.
            - Change part of a file with `edit_file`; `write_file` is for new files and rewrites, and the conversation keeps only its path, size and diff.
            - Keep notes with `notes`: they survive when the conversation is compacted.
            - Call `finish` with a summary when you are done.

            ## Budgets, and how they are counted
            \(budgets(settings))
            """
    }

    /// How each budget of the run is counted, one line each.
    static func budgets(_ settings: RunSettings) -> String {
        let agent = settings.agent?.budgets
        var lines = [
            "- Evaluations: \(settings.maxEvaluations.map(String.init) ?? "no limit"). Every evaluation counts: each `evaluate` call (a cached answer, a partial suite and a failure too), each configuration a `tune` tries (a tune of 8 counts 8), each of `evaluate`'s repeats.",
            "- Tool calls: \(agent?.toolCalls.map(String.init) ?? "no limit"). Every call counts; an answer with several calls counts each of them.",
            "- Wall time: \(settings.maxSeconds.map { "\(Int($0 / 60)) minutes" } ?? "no limit"), for the whole run, time waiting for the model included.",
            "- Tokens: \(agent?.tokens.map(String.init) ?? "no limit"), sent and received together, as the endpoint reports them.",
        ]
        if let dollars = agent?.dollars {
            lines.append(String(format: "- Money: $%.2f, at the prices given.", dollars))
        }
        lines.append(
            "- A budget is checked before each request to you and between the evaluations of a `tune` or a repeat: the calls of one answer all run, then the run ends at the first budget reached."
        )
        lines.append(
            "- Only full-suite evaluations are ranked: a partial-suite result (evaluate with `shapes`) never becomes the best or the winner."
        )
        lines.append("- `evaluate`, `tune` and `leaderboard` results end with a line of the budgets used and left.")
        return lines.joined(separator: "\n")
    }

    /// The seed's evaluation as the prompt states it: its verdict, per shape the baseline's and the
    /// seed's time, GFLOP/s and GB/s (and the roofline fraction, once the harness gives it), and the
    /// noise level Kiln measured (the IQR of the per-pair ratios).
    /// - Parameters:
    ///   - result: the seed's evaluation.
    ///   - path: the seed's workspace path.
    ///   - machine: the machine's profile (peaks).
    /// - Returns: the text.
    static func startingPoint(_ result: EvaluationResult, path: String, machine: MachineProfile) -> String {
        var lines: [String] = []
        if result.correct {
            lines.append(
                "Kiln evaluated \(path) before you began: correct, "
                    + (result.geomeanSpeedup.map {
                        String(format: "geometric-mean speedup %.2fx over the baseline.", $0)
                    }
                        ?? "not timed (\(result.timingUnavailable ?? "correctness only")).")
            )
        } else {
            lines.append(
                "Kiln evaluated \(path) before you began: FAILED (\(result.verdict.rawValue)): \(result.failure ?? "")"
            )
        }
        if !result.shapes.isEmpty {
            lines.append("Per shape (GFLOP/s counts the useful operations; GB/s the minimum bytes a call must move):")
        }
        for shape in result.shapes {
            var line = "- \(shape.name): "
            if let seconds = shape.baselineSeconds {
                line += "baseline " + rates(seconds: seconds, shape: shape, machine: machine)
            }
            if let seconds = shape.candidateSeconds, let speedup = shape.speedup {
                line += String(
                    format: " · seed %.2fx (IQR %.2f-%.2f), ",
                    speedup,
                    shape.speedupLow ?? 0,
                    shape.speedupHigh ?? 0
                )
                line += rates(seconds: seconds, shape: shape, machine: machine)
                if let roofline = EvaluationText.rooflineText(shape) { line += ", " + roofline }
            } else if shape.correct == false {
                line += " · seed WRONG: \(shape.failure ?? "")"
            }
            lines.append(line)
        }
        let pairs = result.shapes.map(\.pairs).max() ?? 0
        if let noise = EvaluationText.noise(result) {
            lines.append(
                String(
                    format:
                        "Noise: the IQR of the seed's per-pair speedup ratios was %.1f-%.1f%% of the speedup across shapes (median %.1f%%); a difference smaller than that may be noise. `evaluate` with `repeat` shows how much a candidate's figures vary.",
                    noise.low * 100,
                    noise.high * 100,
                    noise.median * 100
                )
            )
        } else if result.correct {
            lines.append(
                "Noise: not measured (the seed was timed with \(pairs) pair\(pairs == 1 ? "" : "s") per shape; an interquartile range needs \(EvaluationText.pairsForNoise)). `evaluate` with `repeat` shows how much a candidate's figures vary."
            )
        }
        return lines.joined(separator: "\n")
    }

    /// A time with its rates: `1.23 ms, 27.3 GFLOP/s (12% of the all-core FMA peak), 0.6 GB/s (3% of
    /// STREAM triad)`.
    private static func rates(seconds: Double, shape: ShapeResult, machine: MachineProfile) -> String {
        var text = String(format: "%.3g ms", seconds * 1e3)
        guard seconds > 0 else { return text }
        let gflops = shape.flops / seconds / 1e9
        if shape.flops > 0 {
            text += String(format: ", %.3g GFLOP/s", gflops)
            if machine.peakGflopsAll > 0 {
                text += " (\(EvaluationText.percent(gflops / machine.peakGflopsAll)) of the all-core FMA peak)"
            }
        }
        if let gbs = EvaluationText.gigabytesPerSecond(shape.bytes, seconds: seconds) {
            text += String(format: ", %.3g GB/s", gbs)
            if machine.bandwidthGbsAll > 0 {
                text += " (\(EvaluationText.percent(gbs / machine.bandwidthGbsAll)) of STREAM triad)"
            }
        }
        return text
    }
}
