import Foundation
import KilnTesting
import Testing

/// Package.swift says what the code imports, no more and no less, and docs/ARCHITECTURE.md's module
/// table says what Package.swift says. `KILN_RECORD=1 swift test --filter ModuleGraphTests` rewrites the
/// table's "depends on" column from Package.swift.
@Suite struct ModuleGraphTests {
    /// Modules of the toolchain and the system, which no target declares.
    static let system: Set = [
        "Foundation", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Synchronization", "Testing", "XCTest",
        "PackageDescription",
    ]

    /// Each target's declared dependencies (targets and products), read from Package.swift's text.
    static func declared() throws -> [String: Set<String>] {
        let text = try String(contentsOf: Fixtures.root.appending(path: "Package.swift"), encoding: .utf8)
        var targets: [String: Set<String>] = [:]
        let pattern = try NSRegularExpression(
            pattern: #"\.(?:target|executableTarget|testTarget)\(\s*name:\s*"([^"]+)""#
        )
        let ns = text as NSString
        for match in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let name = ns.substring(with: match.range(at: 1))
            let rest = ns.substring(from: match.range.upperBound)
            var dependencies: Set<String> = []
            // The dependencies array, up to its closing bracket (it holds no nested arrays).
            if let open = rest.range(of: "dependencies:"), let bracket = rest[open.upperBound...].firstIndex(of: "["),
                let close = rest[bracket...].firstIndex(of: "]"),
                rest[rest.startIndex..<open.lowerBound].range(of: ".target(") == nil,
                rest[rest.startIndex..<open.lowerBound].range(of: "Target(") == nil
            {
                let list = String(rest[bracket...close])
                let product = try NSRegularExpression(pattern: #"\.product\(name:\s*"([^"]+)""#)
                let listNS = list as NSString
                var products: Set<String> = []
                for found in product.matches(in: list, range: NSRange(location: 0, length: listNS.length)) {
                    products.insert(listNS.substring(with: found.range(at: 1)))
                }
                let quoted = try NSRegularExpression(pattern: #""([^"]+)""#)
                for found in quoted.matches(in: list, range: NSRange(location: 0, length: listNS.length)) {
                    let value = listNS.substring(with: found.range(at: 1))
                    if !list.contains("package: \"\(value)\"") { dependencies.insert(value) }
                }
                dependencies = dependencies.filter { !products.contains($0) || true }
                    .subtracting(Self.packageNames(in: list)).union(products)
            }
            targets[name] = dependencies
        }
        return targets
    }

    static func packageNames(in list: String) -> Set<String> {
        let pattern = try? NSRegularExpression(pattern: #"package:\s*"([^"]+)""#)
        let ns = list as NSString
        return Set(
            (pattern?.matches(in: list, range: NSRange(location: 0, length: ns.length)) ?? []).map {
                ns.substring(with: $0.range(at: 1))
            }
        )
    }

    /// The modules a target's sources import.
    static func imported(by target: String) -> Set<String>? {
        let roots = ["Sources", "Tests"].map { Fixtures.root.appending(path: "\($0)/\(target)") }
        guard let folder = roots.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else { return nil }
        let pattern = try? NSRegularExpression(
            pattern: #"^(?:@\w+ )*(?:package |public |internal )?import ([A-Za-z0-9_]+)"#,
            options: [.anchorsMatchLines]
        )
        var modules: Set<String> = []
        let files =
            (FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)?.allObjects as? [URL]) ?? []
        for file in files where file.pathExtension == "swift" {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            let ns = text as NSString
            for match in pattern?.matches(in: text, range: NSRange(location: 0, length: ns.length)) ?? [] {
                modules.insert(ns.substring(with: match.range(at: 1)))
            }
        }
        return modules.subtracting(system)
    }

    @Test("every target declares exactly the modules its sources import")
    func declaredIsImported() throws {
        let declared = try Self.declared()
        #expect(declared.count > 20, "parsed \(declared.keys.sorted())")
        for (target, dependencies) in declared.sorted(by: { $0.key < $1.key }) {
            guard let imports = Self.imported(by: target) else { continue }
            let unused = dependencies.subtracting(imports)
            let undeclared = imports.subtracting(dependencies)
            #expect(unused.isEmpty, "\(target) declares but never imports: \(unused.sorted())")
            #expect(undeclared.isEmpty, "\(target) imports but does not declare: \(undeclared.sorted())")
        }
    }

    @Test("docs/ARCHITECTURE.md's module table lists each library's Kiln dependencies as Package.swift does")
    func architectureTable() throws {
        let declared = try Self.declared()
        let url = Fixtures.root.appending(path: "docs/ARCHITECTURE.md")
        var lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
        var seen: Set<String> = []
        // The module table: the first table after "## Modules".
        let first = lines.firstIndex(of: "## Modules") ?? 0
        let last = lines[(first + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.count
        for (index, line) in lines.enumerated() where index > first && index < last && line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            guard let dependencies = declared[name] else { continue }
            seen.insert(name)
            let kiln = dependencies.filter { declared[$0] != nil }.sorted()
            let others = dependencies.filter { declared[$0] == nil }.sorted()
            let expected = (kiln.map { "`\($0)`" } + others).joined(separator: ", ")
            let column = expected.isEmpty ? "nothing" : expected
            if ProcessInfo.processInfo.environment["KILN_RECORD"] == "1" {
                var updated = cells
                updated[cells.count - 2] = column
                lines[index] = updated.joined(separator: " | ").trimmingCharacters(in: .whitespaces)
            } else {
                #expect(
                    cells[cells.count - 2] == column,
                    "\(name): the table says '\(cells[cells.count - 2])', Package.swift '\(column)'"
                )
            }
        }
        if ProcessInfo.processInfo.environment["KILN_RECORD"] == "1" {
            try Data(lines.joined(separator: "\n").utf8).write(to: url)
        }
        let libraries = declared.keys.filter { !$0.hasSuffix("Tests") && $0 != "KilnTesting" }
        #expect(
            Set(libraries).isSubset(of: seen),
            "missing from the table: \(Set(libraries).subtracting(seen).sorted())"
        )
    }
}
