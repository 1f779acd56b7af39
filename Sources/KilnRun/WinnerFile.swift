import Foundation
import KilnHarness
import KilnTask

/// The winning kernel as a standalone file: a C file with its tunables baked in as `#define`s and its
/// flags and figures in a header comment, or a Triton file with the winning values as its tunables' defaults.
enum WinnerFile {
    /// The winner file's name: `winner.c`, or `winner.py` for a Triton task.
    static func name(for task: KernelTask) -> String { "winner.\(task.backend.sourceExtension)" }

    static func render(
        candidate: RunState.Candidate,
        source: String,
        settings: RunSettings,
        task: KernelTask
    ) -> String {
        let result = candidate.result
        let flags = result?.flags ?? []
        let configuration = candidate.record.configuration
        let speedup =
            result?.timingUnavailable != nil
            ? "not timed (\(result?.device ?? "this device") checks correctness only)"
            : "\(result?.geomeanSpeedup.map { String(format: "%.2fx", $0) } ?? "-") over \(task.baseline)"
        let heldout =
            candidate.heldout.map { $0.correct ? "passed" : "FAILED: \($0.failure ?? "")" } ?? "none in this task"
        let about = [
            "\(task.name): the winner of Kiln run \(settings.id)",
            "design \(candidate.record.design)\(candidate.record.file.map { " (\($0))" } ?? ""), candidate #\(candidate.record.id): \(configuration.label)",
            "geometric-mean speedup on the suite: \(speedup)",
            "held-out shapes: \(heldout)",
        ]
        switch task.backend {
        case .c:
            var lines =
                ["/*"]
                + (about + [
                    "build with: \(task.build.compiler) \(flags.filter { !$0.hasPrefix("-D") }.joined(separator: " ")) -fopenmp"
                ]).map { " * \($0)" } + [" */"]
            for key in configuration.values.keys.sorted() {
                if let value = configuration.values[key] { lines.append("#define \(key) \(value)") }
            }
            lines.append("")
            lines.append(source)
            return lines.joined(separator: "\n")
        case .triton:
            // The winning values become each tunable's default (its first value), so the file runs as tuned.
            var lines = about.map { "# \($0)" }
            lines.append("")
            for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append(Self.withDefault(String(line), configuration: configuration))
            }
            return lines.joined(separator: "\n")
        }
    }

    /// A `# kiln:tunable NAME V1 V2 ...` line with the configuration's value moved first.
    private static func withDefault(_ line: String, configuration: TunableConfiguration) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("#") else { return line }
        let words = trimmed.dropFirst().split(separator: " ").map(String.init)
        guard words.count >= 3, words[0] == "kiln:tunable", let value = configuration.values[words[1]],
            words.dropFirst(2).contains(value)
        else { return line }
        let values = [value] + words.dropFirst(2).filter { $0 != value }
        return "# kiln:tunable \(words[1]) \(values.joined(separator: " "))"
    }
}
