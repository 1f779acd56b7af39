import Foundation
import KilnSandbox
import Synchronization

/// The Python that runs Triton drivers, found through configuration and probed once per process.
///
/// Kiln looks, in order, at `KILN_PYTHON` (a Python executable), `KILN_VENV` (a virtual environment's
/// folder), the environment `.ci/run` makes (`~/.cache/kiln/venv`), and `python3` on `PATH`. The probe
/// (trusted: it runs nothing of a task's or a candidate's) reports the interpreter's folders, which the
/// sandbox shows read-only, and the versions of PyTorch and Triton, and whether PyTorch sees a GPU.
package struct PythonEnvironment: Sendable, Hashable, Codable {
    /// The Python executable, as configured.
    var executable: String
    /// `major.minor.micro`.
    var python: String
    /// PyTorch's version, or nil when it does not import.
    var torch: String?
    /// Triton's version, or nil when it does not import.
    var triton: String?
    /// Why PyTorch or Triton does not import.
    var importProblem: String?
    /// Whether PyTorch sees a GPU.
    var hasGPU: Bool
    /// The GPU's name.
    var gpuName: String?
    /// The folder holding `libcuda.so.1`, when the loader knows one.
    var libcudaFolder: String?
    /// The folders the interpreter reads (its prefixes and import path) outside `/usr`.
    var roots: [String]

    /// Where Kiln looks for Python, in order.
    /// - Parameter environment: the environment to read `KILN_PYTHON`, `KILN_VENV`, `XDG_CACHE_HOME` and
    ///   `HOME` from.
    /// - Returns: Python executables, a path or a name on `PATH`.
    package static func configuredExecutables(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> [String]
    {
        if let python = environment["KILN_PYTHON"], !python.isEmpty { return [python] }
        var found: [String] = []
        if let venv = environment["KILN_VENV"], !venv.isEmpty { return [venv + "/bin/python"] }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let cache = environment["XDG_CACHE_HOME"].map { $0 } ?? home + "/.cache"
        found.append(cache + "/kiln/venv/bin/python")
        found.append("python3")
        return found
    }

    private static let probed = Mutex<[String: PythonEnvironment]>([:])

    /// The first configured Python that runs, probed (once per process and executable). A probe cut short
    /// by cancellation says nothing about the Python: it throws `.cancelled`, so a Ctrl-C while PyTorch
    /// imports is an interrupted run, never "no Python here".
    /// - Returns: the environment.
    /// - Throws: ``HarnessError`` `.toolMissing` saying how to install or configure one; `.cancelled`.
    static func find() async throws(HarnessError) -> PythonEnvironment {
        var tried: [String] = []
        for executable in configuredExecutables() {
            if executable.contains("/"), !FileManager.default.isExecutableFile(atPath: executable) {
                tried.append("\(executable) (not there)")
                continue
            }
            if let known = probed.withLock({ $0[executable] }) { return known }
            switch await probe(executable) {
            case .success(let environment):
                probed.withLock { $0[executable] = environment }
                return environment
            case .failure(let problem):
                if Task.isCancelled { throw HarnessError(.cancelled, "cancelled while probing \(executable)") }
                tried.append("\(executable) (\(problem))")
            }
        }
        throw HarnessError(
            .toolMissing,
            "the Triton backend needs Python 3.11 or later with torch and triton, and found none: tried \(tried.joined(separator: ", ")). \(installHint)"
        )
    }

    /// What to do when Python, PyTorch or Triton is missing.
    static let installHint =
        "Install them with 'python3 -m venv ~/.cache/kiln/venv && ~/.cache/kiln/venv/bin/pip install torch triton numpy' (what .ci/run does), or set KILN_PYTHON to a Python that has them (KILN_VENV to a virtual environment). The C backend needs none of this."

    /// Throws unless PyTorch and Triton import.
    func requireTorchAndTriton() throws(HarnessError) {
        guard let importProblem else { return }
        throw HarnessError(
            .toolMissing,
            "the Triton backend needs torch and triton, and \(executable) (Python \(python)) cannot import them: \(importProblem). \(Self.installHint)"
        )
    }

    private static let probeScript = #"""
        import json, os, subprocess, sys
        info = {"executable": sys.executable, "python": "%d.%d.%d" % sys.version_info[:3], "hasGPU": False}
        roots = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))]
        roots += [p for p in sys.path if p and os.path.isdir(p)]
        problems = []
        if sys.version_info < (3, 11):
            problems.append("Python 3.11 or later is needed (tomllib)")
        try:
            import torch
            info["torch"] = torch.__version__.split("+")[0]
            roots.append(os.path.dirname(os.path.dirname(os.path.realpath(torch.__file__))))
            if torch.cuda.is_available():
                info["hasGPU"] = True
                info["gpuName"] = torch.cuda.get_device_name(0)
        except Exception as error:
            problems.append("torch: %s: %s" % (type(error).__name__, error))
        try:
            import triton
            info["triton"] = triton.__version__
        except Exception as error:
            problems.append("triton: %s: %s" % (type(error).__name__, error))
        try:
            import numpy
        except Exception as error:
            problems.append("numpy: %s: %s" % (type(error).__name__, error))
        if info["hasGPU"]:
            try:
                listing = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, timeout=20).stdout
                for line in listing.splitlines():
                    if "libcuda.so.1" in line and "=>" in line:
                        info["libcudaFolder"] = os.path.dirname(line.split("=>")[-1].strip())
                        break
            except Exception:
                pass
        if problems:
            info["importProblem"] = "; ".join(problems)
        info["roots"] = sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)})
        print("kiln-python-probe " + json.dumps(info))
        """#

    private static func probe(_ executable: String) async -> Result<PythonEnvironment, ProbeProblem> {
        let output: ProcessRunner.Output
        do {
            var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "PYTHONDONTWRITEBYTECODE": "1"]
            for name in ["HOME", "CUDA_VISIBLE_DEVICES"] {
                if let value = ProcessInfo.processInfo.environment[name] { environment[name] = value }
            }
            output = try await ProcessRunner.run(
                executable,
                ["-c", probeScript],
                environment: environment,
                timeout: .seconds(180)
            )
        } catch {
            return .failure(ProbeProblem(text: "does not run"))
        }
        guard output.isSuccess,
            let line = output.output.split(separator: "\n").last(where: { $0.hasPrefix("kiln-python-probe ") }),
            var environment = try? JSONDecoder().decode(
                PythonEnvironment.self,
                from: Data(line.dropFirst("kiln-python-probe ".count).utf8)
            )
        else {
            let last = output.output.split(separator: "\n").last.map(String.init) ?? "no output"
            return .failure(
                ProbeProblem(text: output.hasTimedOut ? "did not answer in 180 s" : "failed: \(last.prefix(200))")
            )
        }
        environment.executable = executable.contains("/") ? executable : environment.executable
        environment.roots = Self.outermost(environment.roots.filter { !$0.hasPrefix("/usr/") && $0 != "/usr" })
        return .success(environment)
    }

    /// The folders of `paths` that no other one contains.
    static func outermost(_ paths: [String]) -> [String] {
        let sorted = Set(paths).sorted()
        var kept: [String] = []
        for path in sorted where !kept.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
            kept.append(path)
        }
        return kept
    }

    struct ProbeProblem: Error {
        var text: String
    }
}

extension PythonEnvironment.ProbeProblem: CustomStringConvertible {
    var description: String { text }
}
