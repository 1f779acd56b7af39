import Foundation
import KilnSandbox

/// Inspects a candidate's object file before it is linked into a worker.
///
/// A candidate may define only the task's entry point as a global symbol: a global of its own could
/// shadow a function the worker relies on (for example `clock_gettime`), and constructors, destructors
/// or indirect functions would run its code before or after the runner is in control. Its stack must not
/// be executable (`.note.GNU-stack` without the X flag), so the worker maps no executable memory.
enum SymbolCheck {
    private static let forbiddenSections: Set = [
        ".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors", ".init", ".fini",
    ]

    /// Runs `readelf` with the given arguments (in the candidate's build sandbox).
    typealias Readelf = ([String]) async throws(HarnessError) -> ProcessRunner.Output

    static func inspect(object: String, entryPoint: String, run: Readelf) async throws(HarnessError) -> BuildRejection?
    {
        let symbols = try await run(["-sW", object])
        let sections = try await run(["-SW", object])
        guard symbols.isSuccess, sections.isSuccess else {
            throw HarnessError(
                .toolMissing,
                "readelf failed on the candidate object; install binutils (\(symbols.output.prefix(200)))"
            )
        }
        var hasEntryPoint = false
        var extraGlobals: [String] = []
        var indirect: [String] = []
        for line in symbols.output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 8, fields[0].hasSuffix(":") else { continue }
            let (type, bind, index, name) = (fields[3], fields[4], fields[6], fields[7])
            if type == "IFUNC" { indirect.append(name) }
            guard bind == "GLOBAL" || bind == "WEAK" || bind == "UNIQUE", index != "UND" else { continue }
            if name == entryPoint {
                hasEntryPoint = type == "FUNC"
            } else {
                extraGlobals.append(name)
            }
        }
        var badSections: [String] = []
        var hasExecutableStack = false
        for line in sections.output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let nameIndex = fields.firstIndex(where: { $0.hasPrefix(".") }) else { continue }
            let name = fields[nameIndex]
            if forbiddenSections.contains(name) || name.hasPrefix(".init_array.") || name.hasPrefix(".fini_array.")
                || name.hasPrefix(".ctors.") || name.hasPrefix(".dtors.")
            {
                badSections.append(name)
            }
            // [Nr] Name Type Address Off Size ES Flg Lk Inf Al: the flags come sixth after the name, when present.
            let rest = fields[(nameIndex + 1)...]
            if name == ".note.GNU-stack", rest.count >= 9, rest[rest.startIndex + 5].contains("X") {
                hasExecutableStack = true
            }
        }
        if !hasEntryPoint {
            return BuildRejection(
                kind: .missingEntryPoint,
                message: "the candidate does not define the function '\(entryPoint)' (the task's entry point)",
                log: symbols.output
            )
        }
        if !badSections.isEmpty || !indirect.isEmpty {
            let what = Set(badSections + indirect).sorted().joined(separator: ", ")
            return BuildRejection(
                kind: .forbiddenSymbols,
                message:
                    "the candidate would run code outside its entry point (\(what)): constructors, destructors and indirect functions are not allowed",
                log: symbols.output
            )
        }
        if hasExecutableStack {
            return BuildRejection(
                kind: .forbiddenSymbols,
                message:
                    "the candidate's object asks for an executable stack (an executable .note.GNU-stack section): no candidate may make memory executable",
                log: sections.output
            )
        }
        if !extraGlobals.isEmpty {
            return BuildRejection(
                kind: .forbiddenSymbols,
                message:
                    "the candidate defines global symbols other than '\(entryPoint)': \(extraGlobals.sorted().joined(separator: ", ")); declare helper functions and variables 'static'",
                log: symbols.output
            )
        }
        return nil
    }
}
