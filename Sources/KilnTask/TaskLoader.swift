import Crypto
package import Foundation
import KilnCore
import TOMLKit

extension KernelTask {
    /// Loads and validates the task in a folder.
    ///
    /// Every problem found is collected before failing, each naming its file and line.
    /// - Parameter folder: the task folder, holding `task.toml`.
    /// - Returns: the validated task.
    /// - Throws: ``TaskError``: `.notFound` when the folder or a file it names is missing,
    ///   `.invalid` when a file's content is wrong.
    package static func load(from folder: URL) throws(TaskError) -> KernelTask {
        let folder = folder.standardizedFileURL
        let display = folder.relativePathForDisplay
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else {
            throw TaskError(
                .notFound,
                file: display,
                "no such task folder; pass a folder holding a task.toml (e.g. tasks/extend-attention)"
            )
        }
        guard isDirectory.boolValue else {
            throw TaskError(.notFound, file: display, "not a folder; a task is a folder holding a task.toml")
        }
        let manifestURL = folder.appending(path: "task.toml")
        let manifestName = manifestURL.relativePathForDisplay
        guard let text = try? String(contentsOf: manifestURL, encoding: .utf8) else {
            throw TaskError(.notFound, file: manifestName, "missing task.toml; see docs/TASKS.md for the format")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw TaskError(
                .invalid,
                file: manifestName,
                line: error.source.begin.line,
                "malformed TOML: \(error.description)"
            )
        } catch {
            throw TaskError(.invalid, file: manifestName, "malformed TOML: \(error)")
        }
        var reader = ManifestReader(file: manifestName, text: text)
        let task = reader.read(table, folder: folder)
        guard reader.diagnostics.isEmpty, let task else {
            throw TaskError(.invalid, reader.diagnostics)
        }
        return task
    }
}

/// Reads `task.toml` into a ``KernelTask``, collecting diagnostics instead of stopping at the first.
private struct ManifestReader {
    let file: String
    let lines: [Substring]
    var diagnostics: [Diagnostic] = []

    init(file: String, text: String) {
        self.file = file
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    mutating func fail(_ message: String, key: String? = nil, table: String? = nil, index: Int = 0) {
        diagnostics.append(Diagnostic(file: file, line: line(of: key, in: table, index: index), message: message))
    }

    /// The 1-based line of `key = ...` inside the `index`th `[table]` or `[[table]]` (or at top level).
    func line(of key: String?, in table: String?, index: Int) -> Int? {
        var current: String? = nil
        var seen: [String: Int] = [:]
        var headerLine: Int? = nil
        for (number, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                let name = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                current = name
                seen[name, default: -1] += 1
                if name == table, seen[name] == index { headerLine = number + 1 }
                continue
            }
            if let table {
                guard current == table, seen[table] == index else { continue }
            } else if current != nil {
                continue
            }
            if let key, line.hasPrefix(key),
                line.dropFirst(key.count).trimmingCharacters(in: .whitespaces).hasPrefix("=")
            {
                return number + 1
            }
        }
        return headerLine
    }

    mutating func string(_ table: TOMLTable, _ key: String, section: String? = nil, required: Bool = true) -> String? {
        guard let value = table[key] else {
            if required { fail("missing required key '\(key)'", table: section) }
            return nil
        }
        guard let string = value.string else {
            fail("'\(key)' must be a string", key: key, table: section)
            return nil
        }
        return string
    }

    mutating func strings(_ table: TOMLTable, _ key: String, section: String?, fallback: [String]?) -> [String] {
        guard let value = table[key] else {
            if let fallback { return fallback }
            fail("missing required key '\(key)'", table: section)
            return []
        }
        guard let array = value.array, array.allSatisfy({ $0.string != nil }) else {
            fail("'\(key)' must be an array of strings", key: key, table: section)
            return []
        }
        return array.compactMap(\.string)
    }

    mutating func number(_ table: TOMLTable?, _ key: String, section: String, fallback: Double) -> Double {
        guard let value = table?[key] else { return fallback }
        if let double = value.double { return double }
        if let int = value.int { return Double(int) }
        fail("'\(key)' must be a number", key: key, table: section)
        return fallback
    }

    mutating func file(_ relative: String?, key: String, folder: URL) {
        guard let relative else { return }
        if relative.hasPrefix("/") || relative.split(separator: "/").contains("..") {
            fail("'\(key)' must name a file inside the task folder, got '\(relative)'", key: key)
            return
        }
        if !FileManager.default.fileExists(atPath: folder.appending(path: relative).path) {
            fail("'\(key)' names '\(relative)', which does not exist in the task folder", key: key)
        }
    }

    mutating func shapes(_ table: TOMLTable, _ key: String) -> [Shape] {
        guard let value = table[key] else {
            if key == "suite" { fail("missing [[suite]]: a task needs at least one suite shape") }
            return []
        }
        guard let array = value.array else {
            fail("'\(key)' must be an array of tables ([[\(key)]])", key: key)
            return []
        }
        var shapes: [Shape] = []
        for (index, element) in array.enumerated() {
            guard let entry = element.table else {
                fail("each [[\(key)]] entry must be a table", table: key, index: index)
                continue
            }
            guard let name = entry["name"]?.string, !name.isEmpty else {
                fail("[[\(key)]] entry \(index + 1) needs a string 'name'", table: key, index: index)
                continue
            }
            if name.contains(where: { $0 == ";" || $0 == "=" || $0 == "," || $0.isWhitespace }) {
                fail(
                    "shape name '\(name)' may not contain spaces, ';', '=' or ','",
                    key: "name",
                    table: key,
                    index: index
                )
            }
            var parameters: [Shape.Parameter] = []
            for parameterKey in entry.keys.sorted() where parameterKey != "name" {
                guard let parameterValue = entry[parameterKey], let converted = shapeValue(parameterValue) else {
                    fail(
                        "shape '\(name)': '\(parameterKey)' must be an integer, a number, a boolean, a list of numbers\(allowsWords ? ", or a word (letters, digits, '_', '.', '-')" : "")",
                        key: parameterKey,
                        table: key,
                        index: index
                    )
                    continue
                }
                parameters.append(Shape.Parameter(key: parameterKey, value: converted))
            }
            shapes.append(Shape(name: name, parameters: sortedAsWritten(parameters, table: key, index: index)))
        }
        return shapes
    }

    /// Keeps parameters in the order the file writes them, so summaries read as the author wrote them.
    func sortedAsWritten(_ parameters: [Shape.Parameter], table: String, index: Int) -> [Shape.Parameter] {
        parameters.sorted {
            (line(of: $0.key, in: table, index: index) ?? 0) < (line(of: $1.key, in: table, index: index) ?? 0)
        }
    }

    /// Whether shape parameters may be words (a Triton task's dtypes); C instance files read numbers only.
    var allowsWords = false

    func shapeValue(_ value: any TOMLValueConvertible) -> ShapeValue? {
        if let int = value.int { return .int(int) }
        if let double = value.double { return .float(double) }
        if let bool = value.bool { return .bool(bool) }
        if allowsWords, let string = value.string, !string.isEmpty,
            string.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        {
            return .word(string)
        }
        if let array = value.array {
            let elements = Array(array)
            if elements.allSatisfy({ $0.int != nil }) { return .ints(elements.compactMap(\.int)) }
            if elements.allSatisfy({ $0.int != nil || $0.double != nil }) {
                return .floats(elements.compactMap { $0.double ?? $0.int.map(Double.init) })
            }
        }
        return nil
    }

    mutating func read(_ table: TOMLTable, folder: URL) -> KernelTask? {
        var backend = KernelTask.Backend.c
        if let value = table["backend"] {
            if let name = value.string, let known = KernelTask.Backend(rawValue: name) {
                backend = known
            } else {
                let names = KernelTask.Backend.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")
                fail("'backend' must be \(names)", key: "backend")
            }
        }
        var known: Set = [
            "name", "description", "backend", "entry_point", "instance", "oracle", "baseline", "seeds", "tolerance",
            "limits", "suite", "heldout", "interpreter_suite", "interpreter_heldout", "budgets",
        ]
        // A C task's header and compiler; a Triton task's signature file and what its candidates may use
        // (read by its driver).
        known.formUnion(backend == .c ? ["header", "build"] : ["signature", "torch", "python"])
        for key in table.keys where !known.contains(key) {
            let hint =
                ["header", "build", "signature", "torch", "python"].contains(key)
                ? " for a task with backend = \"\(backend.rawValue)\"" : ""
            fail("unknown key '\(key)'\(hint); known keys are \(known.sorted().joined(separator: ", "))", key: key)
        }
        let name = string(table, "name")
        let summary = string(table, "description", required: false) ?? ""
        let entryPoint = string(table, "entry_point")
        if let entryPoint, entryPoint.isEmpty || !entryPoint.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            fail("'entry_point' must be an identifier, got '\(entryPoint)'", key: "entry_point")
        }
        allowsWords = backend == .triton
        let interfaceKey = backend == .c ? "header" : "signature"
        let header = string(table, interfaceKey)
        let instance = string(table, "instance")
        let oracle = string(table, "oracle")
        let baseline = string(table, "baseline")
        let seeds = strings(table, "seeds", section: nil, fallback: [])
        for (key, path) in [(interfaceKey, header), ("instance", instance), ("oracle", oracle), ("baseline", baseline)]
        {
            file(path, key: key, folder: folder)
        }
        for seed in seeds { file(seed, key: "seeds", folder: folder) }
        if backend == .triton {
            for (key, path) in [
                (interfaceKey, header), ("instance", instance), ("oracle", oracle), ("baseline", baseline),
            ]
            where path.map({ !$0.hasSuffix(".py") }) ?? false {
                fail("'\(key)' of a Triton task must be a Python file (.py)", key: key)
            }
        }

        let buildTable = table["build"]?.table
        if table["build"] != nil, buildTable == nil { fail("'build' must be a table ([build])", key: "build") }
        let build = KernelTask.Build(
            compiler: buildTable.flatMap { string($0, "compiler", section: "build", required: false) } ?? "gcc",
            flags: buildTable.map { strings($0, "flags", section: "build", fallback: ["-O3", "-march=native"]) }
                ?? ["-O3", "-march=native"],
            baselineFlags: buildTable.map {
                strings($0, "baseline_flags", section: "build", fallback: ["-O3", "-march=native"])
            } ?? ["-O3", "-march=native"],
            oracleFlags: buildTable.map { strings($0, "oracle_flags", section: "build", fallback: ["-O2"]) } ?? ["-O2"],
            link: buildTable.map { strings($0, "link", section: "build", fallback: ["-lm"]) } ?? ["-lm"]
        )
        for (key, flags) in [
            ("flags", build.flags), ("baseline_flags", build.baselineFlags), ("oracle_flags", build.oracleFlags),
        ] {
            if let problem = FlagPolicy.problem(with: flags) {
                fail("[build] \(key): \(problem)", key: key, table: "build")
            }
        }

        let toleranceTable = table["tolerance"]?.table
        let tolerance = KernelTask.Tolerance(
            maxAbs: number(toleranceTable, "max_abs", section: "tolerance", fallback: 1e-4),
            relL2: number(toleranceTable, "rel_l2", section: "tolerance", fallback: 1e-5)
        )
        if !(tolerance.maxAbs > 0) || !(tolerance.relL2 > 0) {
            fail("tolerances must be positive", table: "tolerance")
        }
        var tolerancesByDtype: [String: KernelTask.Tolerance] = [:]
        for key in toleranceTable?.keys.sorted() ?? [] where key != "max_abs" && key != "rel_l2" {
            let section = "tolerance.\(key)"
            guard let dtypeTable = toleranceTable?[key]?.table else {
                fail(
                    "unknown key '\(key)' in [tolerance]; write max_abs, rel_l2, or a [tolerance.DTYPE] table",
                    key: key,
                    table: "tolerance"
                )
                continue
            }
            for inner in dtypeTable.keys where inner != "max_abs" && inner != "rel_l2" {
                fail("unknown key '\(inner)' in [\(section)]; write max_abs and rel_l2", key: inner, table: section)
            }
            let limits = KernelTask.Tolerance(
                maxAbs: number(dtypeTable, "max_abs", section: section, fallback: tolerance.maxAbs),
                relL2: number(dtypeTable, "rel_l2", section: section, fallback: tolerance.relL2)
            )
            if !(limits.maxAbs > 0) || !(limits.relL2 > 0) { fail("tolerances must be positive", table: section) }
            tolerancesByDtype[key] = limits
        }
        let limitsTable = table["limits"]?.table
        let timeout = number(limitsTable, "call_timeout", section: "limits", fallback: 30)
        let memory = number(limitsTable, "memory_mb", section: "limits", fallback: 4096)
        let callTimeout = Duration.checkedSeconds(timeout).flatMap { timeout > 0 ? $0 : nil }
        if callTimeout == nil {
            fail(
                "'call_timeout' must be a positive number of seconds of at most a year, not \(timeout)",
                key: "call_timeout",
                table: "limits"
            )
        }
        // At most 16 TiB: a worker's address space in MiB that no conversion can overflow.
        let memoryMB = Int(checking: memory, in: 64...(16 << 20))
        if memoryMB == nil {
            fail(
                "'memory_mb' must be a whole number of MiB from 64 to 16777216, not \(memory)",
                key: "memory_mb",
                table: "limits"
            )
        }
        let limits = KernelTask.Limits(callTimeout: callTimeout ?? .seconds(30), memoryMB: memoryMB ?? 4096)

        let suite = shapes(table, "suite")
        let heldout = shapes(table, "heldout")
        let interpreterSuite = shapes(table, "interpreter_suite")
        let interpreterHeldout = shapes(table, "interpreter_heldout")
        if !interpreterHeldout.isEmpty, interpreterSuite.isEmpty {
            fail(
                "[[interpreter_heldout]] needs an [[interpreter_suite]]: both replace the real shapes on a device that only checks correctness"
            )
        }
        var names: Set<String> = []
        for shape in suite + heldout + interpreterSuite + interpreterHeldout where !names.insert(shape.name).inserted {
            fail("shape name '\(shape.name)' is used twice; shape names must be unique")
        }

        guard diagnostics.isEmpty, let name, let entryPoint, let header, let instance, let oracle, let baseline else {
            return nil
        }
        var hasher = SHA256()
        for relative in ["task.toml", header, instance, oracle, baseline] {
            hasher.update(data: Data(relative.utf8))
            hasher.update(data: (try? Data(contentsOf: folder.appending(path: relative))) ?? Data())
        }
        let hash = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        var task = KernelTask(
            backend: backend,
            folder: folder,
            name: name,
            summary: summary,
            entryPoint: entryPoint,
            header: header,
            instance: instance,
            oracle: oracle,
            baseline: baseline,
            seeds: seeds,
            build: build,
            tolerance: tolerance,
            limits: limits,
            suite: suite,
            heldout: heldout,
            contentHash: hash
        )
        task.tolerancesByDtype = tolerancesByDtype
        task.interpreterSuite = interpreterSuite
        task.interpreterHeldout = interpreterHeldout
        if backend == .triton { task.driverManifest = Self.driverManifest(table) }
        return task
    }

    /// The keys a candidate's driver reads, and nothing of the shapes, the oracle or the baseline.
    static func driverManifest(_ table: TOMLTable) -> String {
        let reduced = TOMLTable()
        for key in ["name", "backend", "entry_point", "signature", "instance", "torch", "python", "limits"] {
            if let value = table[key] { reduced[key] = value }
        }
        return reduced.convert(to: .toml)
    }
}
