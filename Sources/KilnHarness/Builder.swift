import Crypto
package import Foundation
package import KilnSandbox
package import KilnTask

/// What building a candidate came to.
package enum CandidateBuild: Sendable {
    /// A worker executable ready to run, and the compiler's messages.
    case built(worker: URL, log: String)
    /// The candidate was rejected before running, and why.
    case rejected(BuildRejection)
}

/// Why a candidate could not become a worker.
package struct BuildRejection: Sendable, Hashable, Codable {
    /// The kind of rejection.
    package enum Kind: String, Sendable, Hashable, Codable {
        /// The compiler or linker failed, or made no object.
        case compileError = "compile_error"
        /// The source does not define the task's entry point.
        case missingEntryPoint = "missing_entry_point"
        /// The object would run code outside the entry point, shadow symbols, or ask for an executable stack.
        case forbiddenSymbols = "forbidden_symbols"
        /// The source includes a file by an absolute path or through `..`.
        case forbiddenInclude = "forbidden_include"
        /// The compiler did not finish in time.
        case compileTimeout = "compile_timeout"
    }

    /// The kind of rejection.
    package var kind: Kind
    /// A short explanation with the first compiler errors.
    package var message: String
    /// The compiler's full (capped) output.
    package var log: String
}

/// Compiles the task's files and candidates into monitor and worker executables, caching by content hash.
///
/// A task's monitor (Kiln's trusted driver, linked with the task's instance file) and its oracle's and
/// baseline's workers are built from trusted sources with the task folder on the include path. A
/// candidate is compiled, inspected and linked inside the sandbox, which sees only the candidate, the
/// task's header and `kiln_task.h`, the system's headers and libraries, and the folder the object goes to.
package struct Builder: Sendable {
    /// Where built objects and workers are kept.
    package var cacheDirectory: URL
    /// The sandbox candidates are built in.
    package var sandbox: Sandbox

    /// Creates a builder.
    /// - Parameters:
    ///   - cacheDirectory: the folder for cached builds (created when needed).
    ///   - sandbox: the sandbox candidates are built in.
    package init(cacheDirectory: URL, sandbox: Sandbox) {
        self.cacheDirectory = cacheDirectory
        self.sandbox = sandbox
    }

    static let compileTimeout: Duration = .seconds(180)
    private static let harnessFiles = ["kiln_monitor.c", "kiln_runner.c", "kiln_arena.h", "kiln_task.h"]
    /// Flags every worker links with: symbols bound at start (no lazy binding later), a read-only GOT, and
    /// a stack that is never executable.
    static let workerLinkFlags = ["-fopenmp", "-Wl,-z,now", "-Wl,-z,relro", "-Wl,-z,noexecstack"]

    /// The first line of `compiler --version`, which goes into every build hash.
    package func compilerVersion(_ compiler: String) async throws(HarnessError) -> String {
        let result = try await harnessRun(compiler, ["--version"], timeout: .seconds(30))
        guard result.isSuccess else {
            throw HarnessError(
                .toolMissing,
                "the C compiler '\(compiler)' does not run; install it (e.g. apt-get install gcc)"
            )
        }
        return String(result.output.split(separator: "\n").first ?? "")
    }

    /// A hash of everything a task's monitor and workers have in common.
    func commonKey(task: KernelTask) async throws(HarnessError) -> String {
        var hasher = SHA256()
        for name in Self.harnessFiles { hasher.update(data: try HarnessResources.contents(of: name)) }
        hasher.update(data: Data(try sandboxSourceHash().utf8))
        hasher.update(data: Data(task.contentHash.utf8))
        hasher.update(data: Data(try await compilerVersion(task.build.compiler).utf8))
        return hex(hasher.finalize())
    }

    /// Builds (or reuses) the task's monitor: Kiln's driver, the jail and the task's instance file.
    /// - Parameter task: the task.
    /// - Returns: the monitor executable.
    /// - Throws: ``HarnessError`` `.taskBroken` when the instance file does not build.
    package func monitor(task: KernelTask) async throws(HarnessError) -> URL {
        try await commonObjects(task: task).monitor
    }

    /// Builds (or reuses) the worker that runs the task's oracle or baseline.
    /// - Parameters:
    ///   - task: the task.
    ///   - role: which trusted implementation.
    /// - Returns: the worker executable.
    /// - Throws: ``HarnessError`` `.taskBroken` when the task's own code does not build.
    package func trustedWorker(task: KernelTask, role: TrustedRole) async throws(HarnessError) -> URL {
        let source = role == .oracle ? task.oracle : task.baseline
        let flags = role == .oracle ? task.build.oracleFlags : task.build.baselineFlags
        let text = try readText(task.url(of: source))
        let common = try await commonObjects(task: task)
        let key = workerKey(common: common, source: text, flags: flags, kind: "trusted")
        let final = cacheDirectory.appending(path: "build/worker-\(key)")
        let workerURL = final.appending(path: "worker")
        if FileManager.default.isExecutableFile(atPath: workerURL.path) { return workerURL }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let resources = try HarnessResources.directory()
        let compile = try await harnessRun(
            task.build.compiler,
            flags + [
                "-fopenmp", "-I", resources.path, "-I", task.folder.path, "-include", task.url(of: task.header).path,
                "-c", task.url(of: source).path, "-o", "implementation.o",
            ],
            timeout: Self.compileTimeout,
            directory: scratch
        )
        let link =
            compile.isSuccess
            ? try await harnessRun(
                task.build.compiler,
                Self.workerLinkFlags + [common.runner.path, common.instance.path, "implementation.o", "-o", "worker"]
                    + task.build.link,
                timeout: Self.compileTimeout,
                directory: scratch
            ) : compile
        guard compile.isSuccess, link.isSuccess else {
            throw HarnessError(
                .taskBroken,
                "the task's \(role.rawValue) (\(source)) does not build:\n\(BuildLog.firstErrors(compile.output + link.output))"
            )
        }
        try publish(scratch, as: final)
        return workerURL
    }

    /// Builds (or reuses) a candidate's worker inside the sandbox, after checking its includes and that
    /// it cannot run code of its own outside its entry point.
    /// - Parameters:
    ///   - task: the task.
    ///   - source: the candidate's C source.
    ///   - flags: the compiler flags, tunable defines included.
    ///   - displayName: the candidate's name in compiler messages.
    /// - Returns: the worker, or why the candidate was rejected.
    /// - Throws: ``HarnessError`` when the compiler, the sandbox or the cache folder fails.
    package func candidateWorker(task: KernelTask, source: String, flags: [String], displayName: String)
        async throws(HarnessError) -> CandidateBuild
    {
        let common = try await commonObjects(task: task)
        let key = workerKey(common: common, source: source, flags: flags, kind: "candidate-\(sandbox.mode.rawValue)")
        let final = cacheDirectory.appending(path: "build/worker-\(key)")
        let workerURL = final.appending(path: "worker")
        if FileManager.default.isExecutableFile(atPath: workerURL.path) {
            let log = (try? String(contentsOf: final.appending(path: "build.log"), encoding: .utf8)) ?? ""
            return .built(worker: workerURL, log: log)
        }
        if let problem = IncludeCheck.problem(in: source, file: displayName) {
            return .rejected(BuildRejection(kind: .forbiddenInclude, message: problem, log: problem))
        }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let build = try CandidateBuildFolder(
            scratch: scratch,
            isolated: sandbox.mode == .isolated,
            task: task,
            source: source,
            common: common
        )
        let compiler = try CompilerLocation.find(task.build.compiler)
        let jail = build.jail(compiler: compiler)
        let compile = try await jailed(
            compiler.command,
            flags + [
                "-fopenmp", "-fmax-errors=10", "-I", build.includeInside, "-include",
                "\(build.includeInside)/\(task.header)", "-c", build.sourceInside, "-o", build.objectInside,
            ],
            jail: jail
        )
        var log = compile.output.replacingOccurrences(of: build.sourceInside, with: displayName)
        if compile.hasTimedOut {
            return .rejected(
                BuildRejection(kind: .compileTimeout, message: "the compiler did not finish in 180 s", log: log)
            )
        }
        guard compile.isSuccess else {
            return .rejected(BuildRejection(kind: .compileError, message: BuildLog.firstErrors(log), log: log))
        }
        guard FileManager.default.fileExists(atPath: build.object.path) else {
            let message =
                "the compiler made no object file: flags such as -fsyntax-only, -E or -S stop it before one is written"
            return .rejected(BuildRejection(kind: .compileError, message: message, log: log))
        }
        if let rejection = try await SymbolCheck.inspect(
            object: build.objectInside,
            entryPoint: task.entryPoint,
            run: {
                (arguments: [String]) async throws(HarnessError) -> ProcessRunner.Output in
                try await self.jailed("readelf", arguments, jail: jail)
            }
        ) {
            return .rejected(rejection)
        }
        let link = try await jailed(
            compiler.command,
            Self.workerLinkFlags + [
                "\(build.linkInside)/runner.o", "\(build.linkInside)/instance.o", build.objectInside, "-o",
                "\(build.outputInside)/worker",
            ] + task.build.link,
            jail: jail
        )
        log += link.output
        guard link.isSuccess else {
            let kind: BuildRejection.Kind =
                link.output.contains("undefined reference to `\(task.entryPoint)'") ? .missingEntryPoint : .compileError
            let message =
                kind == .missingEntryPoint
                ? "the candidate does not define '\(task.entryPoint)'" : BuildLog.firstErrors(link.output)
            return .rejected(BuildRejection(kind: kind, message: message, log: log))
        }
        let published = try makeScratch()
        defer { try? FileManager.default.removeItem(at: published) }
        do {
            try FileManager.default.moveItem(
                at: build.output.appending(path: "worker"),
                to: published.appending(path: "worker")
            )
        } catch {
            throw HarnessError(.io, "cannot move the candidate's worker out of its build folder", underlying: error)
        }
        try write(Data(log.utf8), to: published.appending(path: "build.log"))
        try publish(published, as: final)
        return .built(worker: workerURL, log: log)
    }

    // MARK: - Common objects

    struct Common {
        var key: String
        var folder: URL
        var runner: URL { folder.appending(path: "runner.o") }
        var instance: URL { folder.appending(path: "instance.o") }
        var monitor: URL { folder.appending(path: "monitor") }
    }

    private func workerKey(common: Common, source: String, flags: [String], kind: String) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(common.key.utf8))
        hasher.update(data: Data(source.utf8))
        hasher.update(data: Data(flags.joined(separator: "\u{1}").utf8))
        hasher.update(data: Data(kind.utf8))
        return hex(hasher.finalize())
    }

    private func commonObjects(task: KernelTask) async throws(HarnessError) -> Common {
        let key = try await commonKey(task: task)
        let common = Common(key: key, folder: cacheDirectory.appending(path: "build/common-\(key)"))
        if FileManager.default.isExecutableFile(atPath: common.monitor.path) { return common }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let resources = try HarnessResources.directory()
        let jailSources = try sandboxSources()
        let steps: [(String, [String])] = [
            (
                "runner.o",
                ["-O2", "-fopenmp", "-I", resources.path, "-c", resources.appending(path: "kiln_runner.c").path]
            ),
            (
                "monitor.o",
                [
                    "-O2", "-I", resources.path, "-I", jailSources.path, "-c",
                    resources.appending(path: "kiln_monitor.c").path,
                ]
            ),
            ("jail.o", ["-O2", "-I", jailSources.path, "-c", jailSources.appending(path: "kiln_jail.c").path]),
            (
                "instance.o",
                [
                    "-O2", "-march=native", "-fopenmp", "-I", resources.path, "-I", task.folder.path, "-c",
                    task.url(of: task.instance).path,
                ]
            ),
            (
                "monitor",
                [
                    "-fopenmp", "monitor.o", "jail.o", "instance.o",
                    "-Wl,--defsym,\(task.entryPoint)=kiln_monitor_no_entry_point",
                ] + task.build.link
            ),
        ]
        for (output, arguments) in steps {
            let result = try await harnessRun(
                task.build.compiler,
                arguments + ["-o", output],
                timeout: Self.compileTimeout,
                directory: scratch
            )
            guard result.isSuccess else {
                let what =
                    output == "instance.o" || output == "monitor"
                    ? "the task's instance file (\(task.instance))"
                    : "Kiln's \(output.replacingOccurrences(of: ".o", with: ""))"
                throw HarnessError(.taskBroken, "\(what) does not build:\n\(BuildLog.firstErrors(result.output))")
            }
        }
        try publish(scratch, as: common.folder)
        return common
    }

    // MARK: - Helpers

    private func jailed(_ program: String, _ arguments: [String], jail: Jail) async throws(HarnessError)
        -> ProcessRunner.Output
    {
        do {
            return try await sandbox.run(program, arguments, jail: jail, timeout: Self.compileTimeout)
        } catch {
            throw HarnessError(sandboxError: error)
        }
    }

    private func makeScratch() throws(HarnessError) -> URL {
        let url = cacheDirectory.appending(path: "build/tmp-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw HarnessError(.io, "cannot create \(url.path); is the cache folder writable?", underlying: error)
        }
        return url
    }

    /// Moves a finished scratch folder into place; a concurrent build of the same key may have won.
    private func publish(_ scratch: URL, as final: URL) throws(HarnessError) {
        do {
            try FileManager.default.moveItem(at: scratch, to: final)
        } catch {
            if !FileManager.default.fileExists(atPath: final.path) {
                throw HarnessError(.io, "cannot write the build cache at \(final.path)", underlying: error)
            }
        }
    }
}

/// Which trusted implementation a worker runs.
package enum TrustedRole: String, Sendable {
    case oracle
    case baseline
}

/// Runs a trusted tool (the compiler on Kiln's or the task's own sources, the probe), mapping failures.
func harnessRun(
    _ executable: String,
    _ arguments: [String],
    timeout: Duration,
    directory: URL? = nil
) async throws(HarnessError) -> ProcessRunner.Output {
    do {
        return try await ProcessRunner.run(executable, arguments, timeout: timeout, directory: directory)
    } catch {
        throw HarnessError(sandboxError: error)
    }
}

func sandboxSources() throws(HarnessError) -> URL {
    do {
        return try Sandbox.sourceDirectory()
    } catch {
        throw HarnessError(sandboxError: error)
    }
}

func sandboxSourceHash() throws(HarnessError) -> String {
    do {
        return try Sandbox.sourceHash()
    } catch {
        throw HarnessError(sandboxError: error)
    }
}

func readText(_ url: URL) throws(HarnessError) -> String {
    do {
        return try String(contentsOf: url, encoding: .utf8)
    } catch {
        throw HarnessError(.io, "cannot read \(url.relativePathForDisplay)", underlying: error)
    }
}

func write(_ data: Data, to url: URL) throws(HarnessError) {
    do {
        try data.write(to: url, options: .atomic)
    } catch {
        throw HarnessError(.io, "cannot write \(url.path)", underlying: error)
    }
}

func hex(_ digest: some Sequence<UInt8>) -> String {
    digest.map { String(format: "%02x", $0) }.joined()
}
