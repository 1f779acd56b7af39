import KilnHarness
import KilnRun
import KilnTask

/// The exit codes of `kiln`, documented in the README.
enum ExitCodes {
    /// Bad usage: unknown option, unknown shape, malformed `--param`.
    static let usage: Int32 = 64
    /// A task folder or file whose content is invalid, or a task whose own code fails.
    static let invalidTask: Int32 = 65
    /// A task folder, candidate or run that does not exist.
    static let notFound: Int32 = 66
    /// Kiln itself failed.
    static let software: Int32 = 70
    /// A tool Kiln needs (the C compiler, readelf) is missing, or no sandbox can be made.
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

    static func code(for error: RunError) -> Int32 {
        switch error.code {
        case .unknownRun: notFound
        case .locked: busy
        case .io: io
        case .newerFormat, .corrupt: invalidTask
        case .modelUnavailable: unavailable
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
