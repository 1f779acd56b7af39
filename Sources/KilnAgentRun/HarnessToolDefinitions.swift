import Foundation
package import KilnAgent
package import KilnHarness
import KilnTuner

/// The harness's tools as the model sees them, defined once: the agent's run context serves them over
/// its workspace, and the MCP server serves `evaluate` and `tune` with a task and a source in place of
/// the workspace path (``forSourceCandidates(_:)``), and `probe` alike.
package enum HarnessToolDefinitions {
    /// Build, check and time a candidate.
    package static let evaluate = ToolDefinition(
        name: "evaluate",
        description:
            "Build a candidate file of the workspace (C or Python, as the task's backend), check it against the hidden oracle on fresh inputs and time it against the baseline on the suite (or some suite shapes). Returns errors first, then per-shape speedups, then the budgets used and left. An identical earlier evaluation (same source, configuration and shapes) is answered from the cache unless fresh is true; repeat N runs N fresh evaluations and reports each geometric mean and their spread. Every evaluation counts against the evaluation budget (a cached one too; repeat N counts N). To compare several candidates, give candidates (a list of {path, params, flag_set, shapes}, at most 8) instead of path: they run side by side on the executor's free slots, and each counts as one evaluation.",
        parameters: [
            "type": "object",
            "properties": [
                "path": ["type": "string", "description": "the candidate file"],
                "params": ["type": "object", "description": "tunable values, NAME: VALUE"],
                "flag_set": ["type": "integer", "description": "index of a declared flag set"],
                "shapes": [
                    "type": "array", "items": ["type": "string"],
                    "description": "suite shape names (default all; partial evaluations are not ranked)",
                ],
                "fresh": ["type": "boolean", "description": "measure again even when the cache holds this evaluation"],
                "compare_with": [
                    "type": "integer",
                    "description":
                        "a candidate number to time beside this one in the same pairs (default: the best so far, for full-suite evaluations); the result says whether this one is better, the same within noise, or worse",
                ],
                "repeat": [
                    "type": "integer",
                    "description": "1-10 fresh evaluations of the same candidate, to see how much the figures vary",
                ],
                "candidates": [
                    "type": "array",
                    "description": "several candidates to evaluate side by side, in place of path",
                    "items": [
                        "type": "object",
                        "properties": [
                            "path": ["type": "string"], "params": ["type": "object"], "flag_set": ["type": "integer"],
                            "shapes": ["type": "array", "items": ["type": "string"]],
                        ],
                        "required": ["path"],
                    ],
                ],
            ],
            "required": [],
        ]
    )

    /// Search a candidate's declared tunables.
    package static let tune = ToolDefinition(
        name: "tune",
        description:
            "Search the tunables a candidate declares (kiln:tunable and, in C, kiln:flags comment lines) with Kiln's tuner, spending up to `budget` evaluations (each configuration tried counts as one evaluation); returns every configuration's speedup or why it failed, the best one's per-shape figures, and the budgets used and left.",
        parameters: [
            "type": "object",
            "properties": [
                "path": ["type": "string", "description": "the candidate file"],
                "budget": ["type": "integer", "description": "evaluations, 1-24 (default 6)"],
                "strategy": ["type": "string", "description": .string(Strategies.names.joined(separator: " | "))],
            ],
            "required": ["path"],
        ]
    )

    /// The machine's measured figures.
    package static let probe = ToolDefinition(
        name: "probe",
        description: "The machine's measured peak FMA rate, memory bandwidth and caches.",
        parameters: ["type": "object", "properties": [:]]
    )

    /// The best correct candidates.
    package static let leaderboard = ToolDefinition(
        name: "leaderboard",
        description:
            "The best correct candidates so far (full-suite evaluations), each distinct candidate once with how many times it was measured, and the budgets used and left.",
        parameters: ["type": "object", "properties": [:]]
    )

    /// Start a design track.
    package static let newTrack = ToolDefinition(
        name: "new_track",
        description: "Start a new design track (an architectural redesign); later candidates belong to it.",
        parameters: objectSchema(
            ["name": ("string", "a short name"), "rationale": ("string", "why this design should be faster")],
            required: ["name", "rationale"]
        )
    )

    /// Make a track current.
    package static let switchTrack = ToolDefinition(
        name: "switch_track",
        description: "Make an existing design track current.",
        parameters: objectSchema(["name": ("string", "the track")], required: ["name"])
    )

    /// End the run.
    package static let finish = ToolDefinition(
        name: "finish",
        description: "End the run with a summary of what was tried and learned.",
        parameters: objectSchema(["summary": ("string", "the summary")], required: ["summary"])
    )

    /// A workspace tool's definition for a client that sends whole sources (MCP): `path` becomes
    /// `task` (a task's name) and `source` (the candidate's whole source); everything else stays.
    /// - Parameter definition: the workspace tool's definition.
    /// - Returns: the definition for source candidates.
    package static func forSourceCandidates(_ definition: ToolDefinition) -> ToolDefinition {
        var copy = definition
        guard case .object(var schema) = definition.parameters, case .object(var properties)? = schema["properties"]
        else { return copy }
        properties["path"] = nil
        properties["candidates"] = nil
        properties["task"] = ["type": "string", "description": "a task name from list_tasks"]
        properties["source"] = [
            "type": "string", "description": "the candidate's whole source file (C, or Python for a Triton task)",
        ]
        schema["properties"] = .object(properties)
        schema["required"] = ["task", "source"]
        copy.parameters = .object(schema)
        copy.description =
            definition.description.replacingOccurrences(
                of: "a candidate file of the workspace (C or Python, as the task's backend)",
                with: "a candidate source"
            ).replacingOccurrences(of: "a candidate declares", with: "a candidate source declares")
            .replacingOccurrences(
                of:
                    " To compare several candidates, give candidates (a list of {path, params, flag_set, shapes}, at most 8) instead of path: they run side by side on the executor's free slots, and each counts as one evaluation.",
                with: ""
            )
            + " Journaled in a run per task."
        return copy
    }

    /// The machine's figures as the model and MCP clients read them.
    /// - Parameter machine: the profile.
    /// - Returns: the text.
    package static func describe(_ machine: MachineProfile) -> String {
        "cpu: \(machine.cpuModel) (\(machine.simd), \(machine.threads) threads)\n"
            + String(
                format:
                    "fp32 FMA peak: %.0f GFLOP/s one core, %.0f all cores\nSTREAM triad: %.1f GB/s one thread, %.1f all\ncaches: L1d %d KiB, L2 %d KiB, L3 %d KiB",
                machine.peakGflops1,
                machine.peakGflopsAll,
                machine.bandwidthGbs1,
                machine.bandwidthGbsAll,
                machine.l1dBytes >> 10,
                machine.l2Bytes >> 10,
                machine.l3Bytes >> 10
            )
            + (machine.theoreticalPeak.map { "\ntheoretical bound: \($0.summary)" } ?? "")
            + (machine.suspectReason.map { "\nSUSPECT profile (perhaps under-read): \($0)" } ?? "")
    }
}
