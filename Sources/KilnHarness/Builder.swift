import Crypto
package import Foundation
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
        /// The compiler or linker failed.
        case compileError = "compile_error"
        /// The source does not define the task's entry point.
        case missingEntryPoint = "missing_entry_point"
        /// The object would run code outside the entry point or shadow symbols the driver uses.
        case forbiddenSymbols = "forbidden_symbols"
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

/// Compiles the task's files and candidates into worker executables, caching by content hash.
package struct Builder: Sendable {
    /// Where built objects and workers are kept.
    package var cacheDirectory: URL

    /// Creates a builder.
    /// - Parameter cacheDirectory: the folder for cached builds (created when needed).
    package init(cacheDirectory: URL) {
        self.cacheDirectory = cacheDirectory
    }

    private static let compileTimeout: Duration = .seconds(180)

    /// A hash of everything a worker's common part depends on.
    func commonKey(task: KernelTask) async throws(HarnessError) -> String {
        var hasher = SHA256()
        hasher.update(data: try HarnessResources.contents(of: "kiln_driver.c"))
        hasher.update(data: try HarnessResources.contents(of: "kiln_task.h"))
        hasher.update(data: Data(task.contentHash.utf8))
        hasher.update(data: Data(try await compilerVersion(task.build.compiler).utf8))
        return hex(hasher.finalize())
    }

    /// The first line of `compiler --version`, which goes into every build hash.
    package func compilerVersion(_ compiler: String) async throws(HarnessError) -> String {
        let result = try await CommandRunner.run(compiler, ["--version"], timeout: .seconds(30))
        guard result.isSuccess else {
            throw HarnessError(
                .toolMissing,
                "the C compiler '\(compiler)' does not run; install it (e.g. apt-get install gcc)"
            )
        }
        return String(result.output.split(separator: "\n").first ?? "")
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
        switch try await worker(task: task, source: text, flags: flags, checkSymbols: false, displayName: source) {
        case .built(let worker, _):
            return worker
        case .rejected(let rejection):
            throw HarnessError(
                .taskBroken,
                "the task's \(role.rawValue) (\(source)) does not build: \(rejection.message)"
            )
        }
    }

    /// Builds (or reuses) a candidate's worker, after checking the candidate cannot run code of its own
    /// outside its entry point.
    /// - Parameters:
    ///   - task: the task.
    ///   - source: the candidate's C source.
    ///   - flags: the compiler flags, tunable defines included.
    ///   - displayName: the candidate's name in compiler messages.
    /// - Returns: the worker, or why the candidate was rejected.
    /// - Throws: ``HarnessError`` when the compiler or the cache folder fails.
    package func candidateWorker(task: KernelTask, source: String, flags: [String], displayName: String)
        async throws(HarnessError) -> CandidateBuild
    {
        try await worker(task: task, source: source, flags: flags, checkSymbols: true, displayName: displayName)
    }

    private func worker(
        task: KernelTask,
        source: String,
        flags: [String],
        checkSymbols: Bool,
        displayName: String
    ) async throws(HarnessError) -> CandidateBuild {
        let common = try await commonObjects(task: task)
        var hasher = SHA256()
        hasher.update(data: Data(common.key.utf8))
        hasher.update(data: Data(source.utf8))
        hasher.update(data: Data(flags.joined(separator: "\u{1}").utf8))
        hasher.update(data: Data((checkSymbols ? "checked" : "trusted").utf8))
        let key = hex(hasher.finalize())
        let final = cacheDirectory.appending(path: "build/worker-\(key)")
        let workerURL = final.appending(path: "worker")
        if FileManager.default.isExecutableFile(atPath: workerURL.path) {
            let log = (try? String(contentsOf: final.appending(path: "build.log"), encoding: .utf8)) ?? ""
            return .built(worker: workerURL, log: log)
        }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let sourceURL = scratch.appending(path: "candidate.c")
        try write(Data(source.utf8), to: sourceURL)
        let resources = try HarnessResources.directory()
        let compile = try await CommandRunner.run(
            task.build.compiler,
            flags + [
                "-fopenmp", "-fmax-errors=10", "-I", resources.path, "-I", task.folder.path, "-include",
                task.url(of: task.header).path, "-c", sourceURL.path, "-o", "candidate.o",
            ],
            timeout: Self.compileTimeout,
            directory: scratch
        )
        var log = compile.output.replacingOccurrences(of: sourceURL.path, with: displayName)
        if compile.hasTimedOut {
            return .rejected(
                BuildRejection(kind: .compileTimeout, message: "the compiler did not finish in 180 s", log: log)
            )
        }
        guard compile.isSuccess else {
            return .rejected(
                BuildRejection(kind: .compileError, message: BuildLog.firstErrors(log), log: log)
            )
        }
        let objectURL = scratch.appending(path: "candidate.o")
        if checkSymbols, let rejection = try await SymbolCheck.inspect(object: objectURL, entryPoint: task.entryPoint) {
            return .rejected(rejection)
        }
        let link = try await CommandRunner.run(
            task.build.compiler,
            ["-fopenmp", "-Wl,-z,now", common.driver.path, common.instance.path, objectURL.path, "-o", "worker"]
                + task.build.link,
            timeout: Self.compileTimeout,
            directory: scratch
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
        try write(Data(log.utf8), to: scratch.appending(path: "build.log"))
        try? FileManager.default.removeItem(at: sourceURL)
        try? FileManager.default.removeItem(at: objectURL)
        try publish(scratch, as: final)
        return .built(worker: workerURL, log: log)
    }

    private struct Common {
        var key: String
        var driver: URL
        var instance: URL
    }

    private func commonObjects(task: KernelTask) async throws(HarnessError) -> Common {
        let key = try await commonKey(task: task)
        let final = cacheDirectory.appending(path: "build/common-\(key)")
        let common = Common(
            key: key,
            driver: final.appending(path: "driver.o"),
            instance: final.appending(path: "instance.o")
        )
        if FileManager.default.fileExists(atPath: common.instance.path) { return common }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let resources = try HarnessResources.directory()
        let steps: [(String, [String])] = [
            (
                "driver.o",
                ["-O2", "-fopenmp", "-I", resources.path, "-c", resources.appending(path: "kiln_driver.c").path]
            ),
            (
                "instance.o",
                [
                    "-O2", "-march=native", "-fopenmp", "-I", resources.path, "-I", task.folder.path, "-c",
                    task.url(of: task.instance).path,
                ]
            ),
        ]
        for (output, arguments) in steps {
            let result = try await CommandRunner.run(
                task.build.compiler,
                arguments + ["-o", output],
                timeout: Self.compileTimeout,
                directory: scratch
            )
            guard result.isSuccess else {
                let what = output == "driver.o" ? "Kiln's driver" : "the task's instance file (\(task.instance))"
                throw HarnessError(.taskBroken, "\(what) does not compile:\n\(BuildLog.firstErrors(result.output))")
            }
        }
        try publish(scratch, as: final)
        return common
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
