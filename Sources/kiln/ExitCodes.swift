import ArgumentParser
import KilnAgent
import KilnAgentRun
import KilnHarness
import KilnModelServer
import KilnRun
import KilnTask

/// The exit codes of `kiln`, documented in the README, and the one mapping from an error to what the user
/// sees: `kiln`'s entry point has one catch, and every error goes through ``report(_:)``.
enum ExitCodes {
    /// What to print and the exit code for an error Kiln's libraries threw, or nil for ArgumentParser's
    /// own (usage errors, `--help`, an explicit exit code), which it prints itself.
    static func report(_ error: any Error) -> (message: String, code: Int32)? {
        switch error {
        case is CancellationError: (interruptedMessage, interrupted)
        case let error as HarnessError where error.code == .cancelled: (interruptedMessage, interrupted)
        case let error as TaskError: (error.description, code(for: error))
        case let error as HarnessError: (error.description, code(for: error))
        case let error as RunError: (error.description, code(for: error))
        case let error as AgentRunError: (error.description, error.code == .notFound ? notFound : usage)
        case let error as ModelServerError:
            (error.description, error.code == .unreadableScript ? notFound : invalidTask)
        case let error as ModelError: (error.description, error.code == .missingKey ? usage : unavailable)
        case let error as ExecutorError: (error.description, unavailable)
        default: nil
        }
    }

    /// The exit code of `kiln eval` for a verdict (0 only when correct).
    static func code(for verdict: Verdict) -> Int32 {
        switch verdict {
        case .correct: 0
        case .wrongResult: 10
        case .buildFailed: 11
        case .crashed: 12
        case .timedOut: 13
        case .integrityViolation: 14
        }
    }

    /// Bad usage: unknown option, unknown shape, malformed `--param`.
    static let usage: Int32 = 64
    /// A task folder or file whose content is invalid, or a task whose own code fails.
    static let invalidTask: Int32 = 65
    /// A task folder, candidate or run that does not exist.
    static let notFound: Int32 = 66
    /// Kiln itself failed.
    static let software: Int32 = 70
    /// A tool Kiln needs (the C compiler, readelf) is missing, no sandbox can be made, or a cluster cannot
    /// evaluate (unreachable, gone, no Kiln slots, a node missing what the task needs).
    static let unavailable: Int32 = 69
    /// A file could not be read or written.
    static let io: Int32 = 74

    static func code(for error: TaskError) -> Int32 {
        switch error.code {
        case .notFound: notFound
        case .unknownShape, .invalidConfiguration: usage
        default: invalidTask
        }
    }

    /// Another process holds the run (EX_TEMPFAIL: try again later).
    static let busy: Int32 = 75
    /// Stopped by Ctrl-C or SIGTERM before anything was written (128 + SIGINT, as shells report it). A run
    /// interrupted once it exists ends normally instead: journaled as interrupted, resumable, exit 0.
    static let interrupted: Int32 = 130
    static let interruptedMessage =
        "interrupted before Kiln wrote anything (no run was made, so there is nothing to resume); run the command again"

    static func code(for error: RunError) -> Int32 {
        switch error.code {
        case .unknownRun: notFound
        case .locked: busy
        case .io: io
        case .newerFormat, .corrupt: invalidTask
        case .modelUnavailable, .executorUnavailable: unavailable
        default: usage
        }
    }

    static func code(for error: HarnessError) -> Int32 {
        switch error.code {
        case .candidateNotFound: notFound
        case .taskBroken: invalidTask
        case .toolMissing, .probeFailed, .sandboxUnavailable: unavailable
        case .io: io
        default: software
        }
    }
}
