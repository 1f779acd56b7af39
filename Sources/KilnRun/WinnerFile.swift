import Foundation
import KilnHarness
import KilnTask

/// The winning kernel as a standalone C file: its tunables baked in as `#define`s, its flags and its
/// figures in a header comment.
enum WinnerFile {
    static func render(
        candidate: RunState.Candidate,
        source: String,
        settings: RunSettings,
        task: KernelTask
    ) -> String {
        let result = candidate.result
        let flags = result?.flags ?? []
        let configuration = candidate.record.configuration
        var lines = [
            "/*",
            " * \(task.name): the winner of Kiln run \(settings.id)",
            " * design \(candidate.record.design)\(candidate.record.file.map { " (\($0))" } ?? ""), candidate #\(candidate.record.id): \(configuration.label)",
            " * geometric-mean speedup on the suite: \(result?.geomeanSpeedup.map { String(format: "%.2fx", $0) } ?? "-") over \(task.baseline) (\(task.build.baselineFlags.joined(separator: " ")))",
            " * held-out shapes: \(candidate.heldout.map { $0.correct ? "passed" : "FAILED: \($0.failure ?? "")" } ?? "none in this task")",
            " * build with: \(task.build.compiler) \(flags.filter { !$0.hasPrefix("-D") }.joined(separator: " ")) -fopenmp",
            " */",
        ]
        for key in configuration.values.keys.sorted() {
            if let value = configuration.values[key] { lines.append("#define \(key) \(value)") }
        }
        lines.append("")
        lines.append(source)
        return lines.joined(separator: "\n")
    }
}
