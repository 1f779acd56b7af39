import Foundation
package import KilnTask

/// What a task's backend offers on this machine: the device, whether its timings mean anything, and the
/// tools that change what a build or a run does.
package struct BackendTarget: Sendable, Hashable, Codable {
    /// The backend.
    package var backend: KernelTask.Backend
    /// The device implementations run on, for people: `cpu`, `cuda:0 NVIDIA H100 80GB HBM3`, or
    /// `cpu-interpreter` (Triton's CPU interpreter).
    package var device: String
    /// Why nothing can be timed here, or nil when timings are real. Evaluations on such a device check
    /// correctness only and are never ranked by speed.
    package var timingUnavailable: String?
    /// The versions of the tools that build or run implementations (the C compiler; Python, PyTorch and
    /// Triton), for cache keys.
    package var tools: String
    /// The device's measured peaks, when its backend probes it (a GPU): the fp32 FMA rate, the dense
    /// tensor-core rate and the memory bandwidth.
    package var peaks: DevicePeaks?

    /// Creates a target.
    /// - Parameters:
    ///   - backend: the backend.
    ///   - device: the device, for people.
    ///   - timingUnavailable: why nothing can be timed, or nil.
    ///   - tools: the tools' versions.
    package init(backend: KernelTask.Backend, device: String, timingUnavailable: String?, tools: String) {
        self.backend = backend
        self.device = device
        self.timingUnavailable = timingUnavailable
        self.tools = tools
    }
}

/// A device's measured peaks (`kiln_device_probe.py` on a GPU).
package struct DevicePeaks: Sendable, Hashable, Codable {
    /// fp32 fused multiply-adds, GFLOP/s (a Triton kernel).
    package var fp32Gflops: Double
    /// Dense fp16/bf16 matrix multiply through the tensor cores, GFLOP/s (cuBLAS): the bound for `tl.dot`.
    package var tensorGflops: Double
    /// Copy bandwidth over a buffer far beyond the L2, GB/s (bytes read and written).
    package var bandwidthGbs: Double
    /// Streaming multiprocessors.
    package var multiprocessors: Int
}

/// How to start one implementation's driver on one shape.
struct DriverLaunch: Sendable {
    /// The program.
    var executable: String
    /// Its arguments.
    var arguments: [String]
    /// Its whole environment.
    var environment: [String: String]
    /// Where, on the host, the implementation's own output ends up.
    var log: URL
}

/// One implementation ready to run: the oracle, the baseline, or a candidate that passed its backend's
/// build and checks.
package struct Implementation: Sendable {
    /// Which implementation this is.
    package enum Role: String, Sendable {
        case oracle
        case baseline
        case candidate
        /// Another candidate timed beside the one evaluated.
        case rival
    }

    /// Which implementation this is.
    package var role: Role
    /// Makes the launch of its driver for one shape, with a fresh private folder for its log.
    let launch: @Sendable (_ shape: Shape, _ folder: URL) throws(HarnessError) -> DriverLaunch
}

/// What preparing a candidate came to.
package enum CandidatePreparation: Sendable {
    /// Ready to run, with the build's messages.
    case ready(Implementation, log: String)
    /// Rejected before running, and why.
    case rejected(BuildRejection)
}

/// One kind of implementation (C on the CPU, Triton on PyTorch): how it is built and checked, how its
/// drivers start, and which integrity checks its drivers report. Everything above a backend (the order
/// of calls, seeds, tolerances, timing statistics, verdicts, the cache, the journal) is the same for all;
/// docs/BACKENDS.md is the protocol every driver speaks.
protocol Backend: Sendable {
    /// Checks the backend's tools and learns the device; a missing tool is a ``HarnessError`` with code
    /// `.toolMissing` that says what to install.
    func target(for task: KernelTask) async throws(HarnessError) -> BackendTarget

    /// The task's oracle or baseline, built when the backend builds.
    func trusted(_ role: TrustedRole, task: KernelTask, target: BackendTarget) async throws(HarnessError)
        -> Implementation

    /// Builds and checks a candidate.
    func candidate(
        task: KernelTask,
        source: String,
        space: TunableSpace,
        configuration: TunableConfiguration,
        displayName: String,
        target: BackendTarget
    ) async throws(HarnessError) -> CandidatePreparation

    /// The compiler flags a configuration builds with (empty for backends without a compiler of their
    /// own); results and cache keys record them.
    func flags(task: KernelTask, space: TunableSpace, configuration: TunableConfiguration) -> [String]

    /// Whether the drivers' call replies carry the worker's CPU accounting (`cpu_ns`, `after_ns`,
    /// `frozen_cpu_ns`) and the done byte, which the harness then requires and checks.
    var reportsWorkerAccounting: Bool { get }
}
