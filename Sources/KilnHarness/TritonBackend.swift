import Crypto
import Foundation
import KilnSandbox
import KilnTask

#if canImport(Glibc)
import Glibc
#endif

/// Triton on PyTorch: every implementation runs in Kiln's Python driver (`kiln_triton_driver.py`), one
/// process per implementation and shape, inside the sandbox. A candidate's driver sees only the task's
/// signature and instance files and a manifest without shapes, never the oracle or the baseline; the
/// driver checks the candidate statically before importing it, bans PyTorch compute at run time, and
/// times with device events on a GPU. Without a GPU it runs Triton's CPU interpreter, which checks
/// correctness but cannot time: such evaluations say so and are never ranked by speed.
///
/// The device is a GPU when PyTorch sees one, unless `KILN_TRITON_DEVICE=cpu` asks for the interpreter.
struct TritonBackend: Backend {
    /// The folder for candidate folders and Triton's compile caches.
    var cacheDirectory: URL
    /// The sandbox drivers run in.
    var sandbox: Sandbox

    var reportsWorkerAccounting: Bool { false }

    /// The message evaluations on the interpreter carry.
    static let interpreterNote =
        "timing unavailable without a GPU: Triton's CPU interpreter checks correctness only, and nothing is ranked by speed"

    func target(for task: KernelTask) async throws(HarnessError) -> BackendTarget {
        let python = try await PythonEnvironment.find()
        try python.requireTorchAndTriton()
        let onGPU = try Self.usesGPU(python)
        let device = onGPU ? "cuda:0 \(python.gpuName ?? "GPU")" : "cpu-interpreter"
        var target = BackendTarget(
            backend: .triton,
            device: device,
            timingUnavailable: onGPU ? nil : Self.interpreterNote,
            tools: "python \(python.python) torch \(python.torch ?? "?") triton \(python.triton ?? "?") \(device)"
        )
        if onGPU { target.peaks = try await devicePeaks(python: python, target: target) }
        return target
    }

    /// The GPU's peaks, measured once by `kiln_device_probe.py` (trusted, outside the sandbox) and kept
    /// in the cache under its MAC, keyed by the device and the tools.
    private func devicePeaks(python: PythonEnvironment, target: BackendTarget) async throws(HarnessError)
        -> DevicePeaks
    {
        let key = try CacheAuthentication.key(in: cacheDirectory)
        let name = "device-probe-\(hex(SHA256.hash(data: Data(target.tools.utf8))).prefix(16)).json"
        let url = cacheDirectory.appending(path: name)
        if let data = try? Data(contentsOf: url), let body = CacheAuthentication.open(data, key: key),
            let peaks = try? JSONDecoder().decode(DevicePeaks.self, from: body)
        {
            return peaks
        }
        var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "PYTHONDONTWRITEBYTECODE": "1"]
        for name in ["HOME", "CUDA_VISIBLE_DEVICES", "TMPDIR"] {
            if let value = ProcessInfo.processInfo.environment[name] { environment[name] = value }
        }
        let script = try Self.driverFolder().appending(path: "kiln_device_probe.py").path
        let output: ProcessRunner.Output
        do {
            output = try await ProcessRunner.run(
                python.executable,
                [script, "--device", "cuda"],
                environment: environment,
                timeout: .seconds(300)
            )
        } catch {
            throw HarnessError(sandboxError: error)
        }
        struct Report: Decodable {
            var sms: Int
            var fp32_gflops: Double?
            var tensor_gflops: Double?
            var bandwidth_gbs: Double?
        }
        guard output.isSuccess,
            let line = output.output.split(separator: "\n").last(where: { $0.hasPrefix("kiln-device-probe ") }),
            let report = try? JSONDecoder().decode(
                Report.self,
                from: Data(line.dropFirst("kiln-device-probe ".count).utf8)
            ),
            let fp32 = report.fp32_gflops, let tensor = report.tensor_gflops, let bandwidth = report.bandwidth_gbs,
            fp32 > 0, tensor > 0, bandwidth > 0
        else {
            throw HarnessError(
                .probeFailed,
                "the GPU probe (kiln_device_probe.py) failed: \(output.output.suffix(500)); run it by hand with \(python.executable) to see why"
            )
        }
        let peaks = DevicePeaks(
            fp32Gflops: fp32,
            tensorGflops: tensor,
            bandwidthGbs: bandwidth,
            multiprocessors: report.sms
        )
        if let body = try? JSONEncoder().encode(peaks) {
            try? CacheAuthentication.seal(body, key: key).write(to: url, options: .atomic)
        }
        return peaks
    }

    private static func usesGPU(_ python: PythonEnvironment) throws(HarnessError) -> Bool {
        switch ProcessInfo.processInfo.environment["KILN_TRITON_DEVICE"] ?? "" {
        case "": return python.hasGPU
        case "cpu": return false
        case "cuda":
            guard python.hasGPU else {
                throw HarnessError(
                    .toolMissing,
                    "KILN_TRITON_DEVICE=cuda, but PyTorch (\(python.executable)) sees no GPU; unset it to use Triton's CPU interpreter"
                )
            }
            return true
        case let other:
            throw HarnessError(.toolMissing, "KILN_TRITON_DEVICE must be cuda or cpu, not '\(other)'")
        }
    }

    func flags(task: KernelTask, space: TunableSpace, configuration: TunableConfiguration) -> [String] { [] }

    func trusted(_ role: TrustedRole, task: KernelTask, target: BackendTarget) async throws(HarnessError)
        -> Implementation
    {
        let python = try await PythonEnvironment.find()
        let file = role == .oracle ? task.oracle : task.baseline
        return try implementation(
            role == .oracle ? .oracle : .baseline,
            python: python,
            target: target,
            task: task,
            taskFolder: task.folder,
            implementationFolder: task.folder,
            file: file,
            tunables: "",
            cacheKey: "\(task.contentHash)-\(role.rawValue)"
        )
    }

    func candidate(
        task: KernelTask,
        source: String,
        space: TunableSpace,
        configuration: TunableConfiguration,
        displayName: String,
        target: BackendTarget
    ) async throws(HarnessError) -> CandidatePreparation {
        if !space.flagSets.isEmpty {
            let message =
                "\(displayName): 'kiln:flags' applies to C candidates; a Triton candidate declares tunables only"
            return .rejected(BuildRejection(kind: .compileError, message: message, log: message))
        }
        let python = try await PythonEnvironment.find()
        let folder = try candidateFolder(task: task, source: source)
        let tunables = configuration.values.keys.sorted().compactMap { key in
            configuration.values[key].map { "\(key)=\($0)" }
        }.joined(separator: ";")
        let implementation = try implementation(
            .candidate,
            python: python,
            target: target,
            task: task,
            taskFolder: folder.appending(path: "task"),
            implementationFolder: folder.appending(path: "implementation"),
            file: "candidate.py",
            tunables: tunables,
            cacheKey: folder.lastPathComponent
        )
        return .ready(implementation, log: "")
    }

    /// A folder holding what a candidate's driver may see: the reduced manifest, the signature and the
    /// instance file (`task/`), and the candidate (`implementation/candidate.py`), by content hash.
    private func candidateFolder(task: KernelTask, source: String) throws(HarnessError) -> URL {
        var hasher = SHA256()
        for part in [task.contentHash, source] {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        let final = cacheDirectory.appending(path: "build/triton-\(hex(hasher.finalize()).prefix(32))")
        if FileManager.default.fileExists(atPath: final.appending(path: "implementation/candidate.py").path) {
            return final
        }
        let scratch = cacheDirectory.appending(path: "build/tmp-\(UUID().uuidString)")
        let files = FileManager.default
        do {
            let taskFolder = scratch.appending(path: "task")
            try files.createDirectory(at: taskFolder, withIntermediateDirectories: true)
            try files.createDirectory(at: scratch.appending(path: "implementation"), withIntermediateDirectories: true)
            try Data((task.driverManifest ?? "").utf8).write(to: taskFolder.appending(path: "task.toml"))
            for relative in [task.header, task.instance] {
                let target = taskFolder.appending(path: relative)
                try files.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try files.copyItem(at: task.url(of: relative), to: target)
            }
            try Data(source.utf8).write(to: scratch.appending(path: "implementation/candidate.py"))
            try files.moveItem(at: scratch, to: final)
        } catch {
            try? files.removeItem(at: scratch)
            if !files.fileExists(atPath: final.path) {
                throw HarnessError(.io, "cannot prepare the candidate's folder in \(final.path)", underlying: error)
            }
        }
        return final
    }

    // swift-format-ignore: FunctionParameterCount
    private func implementation(
        _ role: Implementation.Role,
        python: PythonEnvironment,
        target: BackendTarget,
        task: KernelTask,
        taskFolder: URL,
        implementationFolder: URL,
        file: String,
        tunables: String,
        cacheKey: String
    ) throws(HarnessError) -> Implementation {
        let isolated = sandbox.mode == .isolated
        let launcher = sandbox
        let driverFolder = try Self.driverFolder()
        let onGPU = target.timingUnavailable == nil
        let compileCache = cacheDirectory.appending(path: "triton-cache/\(cacheKey)")
        let memoryMB = onGPU ? 0 : task.limits.memoryMB
        return Implementation(role: role) { shape, folder throws(HarnessError) in
            try Self.prepareWritable(folder)
            try Self.prepareWritable(compileCache)
            let inside: (URL, String) -> String = { host, path in isolated ? path : host.path }
            var arguments = [
                inside(driverFolder, "/kiln/driver") + "/kiln_triton_driver.py", "--role", role.rawValue, "--task",
                inside(taskFolder, "/kiln/task"), "--implementation",
                inside(implementationFolder, "/kiln/implementation") + "/" + file, "--shape", shape.driverSpec,
                "--device", onGPU ? "cuda" : "cpu", "--log", inside(folder, "/kiln/log") + "/driver.log", "--cache",
                inside(compileCache, "/kiln/cache"),
            ]
            if !tunables.isEmpty { arguments += ["--tunables", tunables] }
            var mounts: [Jail.Mount] = [
                .system, .devices, .proc, .tmpfs(at: "/tmp", megabytes: 2048),
                .readOnly(driverFolder, at: "/kiln/driver"), .readOnly(taskFolder, at: "/kiln/task"),
                .readOnly(implementationFolder, at: "/kiln/implementation"), .writable(folder, at: "/kiln/log"),
                .writable(compileCache, at: "/kiln/cache"),
            ]
            mounts += python.roots.map { .readOnly(URL(filePath: $0), at: $0) }
            if onGPU { mounts += Self.gpuDevices().map { .writable(URL(filePath: $0), at: $0) } }
            var environment = [
                "PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "HOME": "/tmp", "TMPDIR": "/tmp",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
            ]
            if !isolated { environment["TMPDIR"] = folder.path }
            if onGPU, let libcuda = python.libcudaFolder { environment["TRITON_LIBCUDA_PATH"] = libcuda }
            for name in ["CUDA_VISIBLE_DEVICES", "KILN_INTERPRETER_FIXES"] {
                if let value = ProcessInfo.processInfo.environment[name] { environment[name] = value }
            }
            var jail = Jail(mounts: mounts, workingDirectory: isolated ? "/tmp" : folder.path, environment: environment)
            jail.memoryMB = memoryMB
            jail.cpuSeconds = 3600
            jail.fileMB = 64
            jail.asNobody = true
            return DriverLaunch(
                executable: launcher.launcher.path,
                arguments: ["--stdin", "--report-exit"]
                    + launcher.launcherArguments(python.executable, arguments, jail: jail),
                environment: ["LC_ALL": "C"],
                log: folder.appending(path: "driver.log")
            )
        }
    }

    /// The folder of Kiln's Python driver.
    static func driverFolder() throws(HarnessError) -> URL {
        guard let url = Bundle.module.url(forResource: "python", withExtension: nil) else {
            throw HarnessError(
                .internal,
                "Kiln's Python driver is missing next to the executable; rebuild Kiln with 'swift build'"
            )
        }
        return url
    }

    /// A folder the driver may write as the sandbox's user (the host's nobody when Kiln runs as root).
    private static func prepareWritable(_ folder: URL) throws(HarnessError) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw HarnessError(.io, "cannot create \(folder.path); is the cache folder writable?", underlying: error)
        }
        if geteuid() == 0 { _ = chown(folder.path, 65534, 65534) }
    }

    /// The NVIDIA device files a CUDA process opens.
    private static func gpuDevices() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        return names.filter { $0.hasPrefix("nvidia") }.sorted().map { "/dev/\($0)" }
            .filter { !FileManager.default.fileExists(atPath: $0 + "/.") }
    }
}
