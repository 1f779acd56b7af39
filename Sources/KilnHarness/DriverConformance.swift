package import Foundation
package import KilnTask

/// Checks that a driver speaks Kiln's driver protocol (docs/BACKENDS.md): the conformance test a person
/// bringing up a new accelerator runs against their driver (`kiln check-driver -- COMMAND...`), and that
/// Kiln's own C monitor and Triton driver pass.
///
/// It starts the driver twice (inputs must depend only on (shape, seed), across processes) and checks
/// the start-up line, each command's reply and fields, the raw bytes of `out`, `check` against the
/// driver's own outputs (no difference) and against changed ones (a difference), a second call on one
/// setup (the same outputs: in-place buffers are put back), errors for commands out of order or
/// malformed, and a clean exit on `quit`.
package enum DriverConformance {
    /// One check's outcome.
    package struct Finding: Sendable, Hashable, CustomStringConvertible {
        /// What was checked.
        package var check: String
        /// Whether the driver passed.
        package var passed: Bool
        /// What the driver did, when it failed.
        package var detail: String

        package var description: String { passed ? "ok    \(check)" : "FAIL  \(check): \(detail)" }
    }

    /// Runs the checks against a driver command (with its shape argument), in no sandbox of Kiln's.
    /// - Parameters:
    ///   - command: the driver's executable and arguments.
    ///   - timeout: the deadline of each reply (start-up included).
    /// - Returns: the findings, in order.
    package static func check(command: [String], timeout: Duration = .seconds(180)) async -> [Finding] {
        guard let executable = command.first else {
            return [Finding(check: "a command to run", passed: false, detail: "none given")]
        }
        let folder = FileManager.default.temporaryDirectory.appending(path: "kiln-conformance-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        let launch = DriverLaunch(
            executable: executable.contains("/") ? executable : "/usr/bin/env",
            arguments: executable.contains("/") ? Array(command.dropFirst()) : command,
            environment: environment,
            log: folder.appending(path: "driver.log")
        )
        return await check(launch, timeout: timeout)
    }

    /// Runs the checks against one launch of a driver.
    static func check(_ launch: DriverLaunch, timeout: Duration) async -> [Finding] {
        var findings: [Finding] = []
        func expect(_ check: String, _ passed: Bool, _ detail: @autoclosure () -> String = "") {
            findings.append(Finding(check: check, passed: passed, detail: passed ? "" : detail()))
        }
        do {
            var firstHash: String?
            var outputs = 0
            try await DriverSession.with(launch) { driver in
                let ready = await driver.awaitReady(timeout: timeout)
                guard case .ok = ready else {
                    expect("its first line is 'ready ...'", false, describe(ready))
                    return
                }
                expect("its first line is 'ready ...'", true)
                let early = await driver.request("out", timeout: timeout)
                expect("'out' before any call is an error", isError(early), "it answered \(describe(early))")
                if case .ok(let fields) = early, let count = Int(fields["bytes"] ?? ""), count > 0 {
                    _ = await driver.readBytes(count, timeout: timeout)
                }
                let setup = await driver.request("setup 1 0", timeout: timeout)
                guard case .ok(let first) = setup else {
                    expect(
                        "'setup 1 0' answers 'ok inputs=... outputs=... flops=... bytes=...'",
                        false,
                        describe(setup)
                    )
                    return
                }
                let hash = first["inputs"] ?? ""
                outputs = Int(first["outputs"] ?? "") ?? -1
                expect(
                    "'setup' answers 'ok inputs=HEX16 outputs=BYTES flops=F bytes=B'",
                    hash.count == 16 && hash.allSatisfy(\.isHexDigit) && outputs >= 0
                        && Double(first["flops"] ?? "") != nil && Double(first["bytes"] ?? "") != nil,
                    "got \(first)"
                )
                firstHash = hash
                if case .ok(let other) = await driver.request("setup 2 0", timeout: timeout) {
                    expect("another seed makes other inputs", other["inputs"] != hash, "seeds 1 and 2 hash alike")
                } else {
                    expect("another seed makes other inputs", false, "'setup 2 0' failed")
                }
                if case .ok(let perturbed) = await driver.request("setup 1 7", timeout: timeout) {
                    expect(
                        "a perturbation changes the inputs",
                        perturbed["inputs"] != hash,
                        "'setup 1 7' hashes as 'setup 1 0'"
                    )
                } else {
                    expect("a perturbation changes the inputs", false, "'setup 1 7' failed")
                }
                guard case .ok(let again) = await driver.request("setup 1 0", timeout: timeout) else {
                    expect("'setup 1 0' again makes the same inputs", false, "it failed")
                    return
                }
                expect("'setup 1 0' again makes the same inputs", again["inputs"] == hash, "got \(again)")
                let call = await driver.request("call 60000", timeout: timeout + .seconds(60))
                guard case .ok(let timed) = call else {
                    expect("'call MS' answers 'ok ns=N inputs=HEX16'", false, describe(call))
                    return
                }
                expect(
                    "'call MS' answers 'ok ns=N inputs=HEX16' with its setup's hash",
                    Int64(timed["ns"] ?? "").map { $0 >= 0 } == true && timed["inputs"] == hash,
                    "got \(timed), setup hash \(hash)"
                )
                let out = await driver.request("out", timeout: timeout)
                guard case .ok(let sent) = out, let count = Int(sent["bytes"] ?? ""),
                    let bytes = await driver.readBytes(count, timeout: timeout)
                else {
                    expect("'out' answers 'ok bytes=N' and sends N bytes", false, describe(out))
                    return
                }
                expect(
                    "'out' sends the setup's output bytes",
                    count == outputs,
                    "\(count) bytes, setup said \(outputs)"
                )
                let same = await driver.request("check \(bytes.count)", payload: bytes, timeout: timeout)
                if case .ok(let metrics) = same {
                    expect(
                        "'check' of its own outputs finds no difference",
                        Double(metrics["max_abs"] ?? "") == 0 && metrics["nonfinite"] == "0"
                            && metrics["worst"] != nil,
                        "got \(metrics)"
                    )
                } else {
                    expect("'check' of its own outputs finds no difference", false, describe(same))
                }
                if !bytes.isEmpty {
                    var changed = bytes
                    for index in stride(from: 0, to: changed.count, by: max(changed.count / 16, 1)) {
                        changed[index] ^= 0x5A
                    }
                    let different = await driver.request("check \(changed.count)", payload: changed, timeout: timeout)
                    if case .ok(let metrics) = different {
                        let maxAbs = Double(metrics["max_abs"] ?? "") ?? 0
                        expect(
                            "'check' of changed outputs finds the difference and names its element",
                            (maxAbs > 0 || maxAbs.isNaN || (Int(metrics["nonfinite"] ?? "") ?? 0) > 0)
                                && (metrics["worst"] ?? "").contains("["),
                            "got \(metrics)"
                        )
                    } else {
                        expect("'check' of changed outputs finds the difference", false, describe(different))
                    }
                }
                // A call starts from the setup's state: outputs refilled, in-place buffers put back. Loose
                // enough for an implementation whose reductions are not deterministic on the device.
                let repeated = "a second call on one setup gives the first call's outputs (rel_l2 ≤ 1e-3)"
                let second = await driver.request("call 60000", timeout: timeout + .seconds(60))
                if case .ok = second {
                    let same = await driver.request("check \(bytes.count)", payload: bytes, timeout: timeout)
                    if case .ok(let metrics) = same {
                        let relL2 = Double(metrics["rel_l2"] ?? "") ?? .infinity
                        expect(
                            repeated,
                            metrics["nonfinite"] == "0" && relL2 <= 1e-3,
                            "check of the first call's outputs: \(metrics) (an in-place buffer not put back before each call?)"
                        )
                    } else {
                        expect(repeated, false, describe(same))
                    }
                } else {
                    expect(repeated, false, "the second call: \(describe(second))")
                }
                expect(
                    "an unknown command is an error",
                    isError(await driver.request("frobnicate", timeout: timeout)),
                    "it did not answer 'error ...'"
                )
            }
            // A second process: the same (shape, seed) makes the same inputs; 'call' before 'setup' is an error.
            try await DriverSession.with(launch) { driver in
                guard case .ok = await driver.awaitReady(timeout: timeout) else {
                    expect("a second process starts", false, "no 'ready' line")
                    return
                }
                expect(
                    "'call' before 'setup' is an error",
                    isError(await driver.request("call 1000", timeout: timeout)),
                    "it did not answer 'error ...'"
                )
                if let firstHash {
                    if case .ok(let fields) = await driver.request("setup 1 0", timeout: timeout) {
                        expect(
                            "inputs depend only on (shape, seed): another process makes the same",
                            fields["inputs"] == firstHash,
                            "\(fields["inputs"] ?? "?") against \(firstHash)"
                        )
                    } else {
                        expect("inputs depend only on (shape, seed)", false, "'setup 1 0' failed in a second process")
                    }
                }
                let quit = await driver.request("quit", timeout: .seconds(10))
                switch quit {
                case .lost: expect("'quit' ends the driver", true)
                case .dead(let death):
                    expect("'quit' ends the driver with status 0", death.status == .exited(0), "\(death.status)")
                default: expect("'quit' ends the driver", false, "it answered \(describe(quit))")
                }
            }
        } catch {
            expect("the driver starts", false, "\(error)")
        }
        return findings
    }

    private static func isError(_ reply: DriverReply) -> Bool {
        if case .error = reply { return true }
        return false
    }

    private static func describe(_ reply: DriverReply) -> String {
        switch reply {
        case .ok(let fields): "ok \(fields)"
        case .error(let message): "error \(message)"
        case .taskError(let message): "task-error \(message)"
        case .raised(let message): "raised \(message)"
        case .violation(let message): "violation \(message)"
        case .dead(let death): "dead \(death.status)"
        case .timeout: "timeout"
        case .lost: "no answer (the driver ended or said nothing in time)"
        }
    }
}

extension Evaluator {
    /// Runs the driver conformance checks against the task's oracle, as its backend launches it here.
    /// - Parameters:
    ///   - task: the task.
    ///   - shape: the shape to drive.
    /// - Returns: the findings.
    /// - Throws: ``HarnessError`` when the backend cannot build or find its tools.
    package func conformance(of task: KernelTask, shape: Shape) async throws -> [DriverConformance.Finding] {
        let folder = cacheDirectory.appending(path: "logs/conformance-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let launch = try await trustedLaunch(.oracle, task: task, shape: shape, logFolder: folder)
        return await DriverConformance.check(launch, timeout: .seconds(180))
    }

    /// The launch of a trusted implementation's driver for one shape, the task prepared and built here.
    private func trustedLaunch(
        _ role: TrustedRole,
        task: KernelTask,
        shape: Shape,
        logFolder: URL
    ) async throws -> DriverLaunch {
        let (prepared, target) = try await prepare(task)
        let backend = try await backend(for: prepared)
        return try await backend.trusted(role, task: prepared, target: target).launch(shape, logFolder)
    }
}

extension Evaluator {
    /// The command that starts a trusted implementation's driver for one shape, as an evaluation starts it
    /// (for running a driver by hand, and for tests of a driver's lifetime).
    /// - Parameters:
    ///   - role: the oracle or the baseline.
    ///   - task: the task.
    ///   - shape: the shape.
    ///   - logFolder: an existing folder for the implementation's log.
    /// - Returns: the executable, its arguments and its whole environment.
    /// - Throws: ``HarnessError`` when the task cannot be prepared or built here.
    package func driverCommand(
        for role: TrustedRole,
        task: KernelTask,
        shape: Shape,
        logFolder: URL
    ) async throws -> (executable: String, arguments: [String], environment: [String: String]) {
        let launch = try await trustedLaunch(role, task: task, shape: shape, logFolder: logFolder)
        return (launch.executable, launch.arguments, launch.environment)
    }
}
