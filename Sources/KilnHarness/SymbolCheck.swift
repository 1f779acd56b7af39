import Foundation

/// Inspects a candidate's object file before it is linked into a worker.
///
/// A candidate may define only the task's entry point as a global symbol: a global of its own could
/// shadow a function the driver relies on (for example `clock_gettime`), and constructors,
/// destructors or indirect functions would run its code before or after the driver is in control.
enum SymbolCheck {
    private static let forbiddenSections: Set = [
        ".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors", ".init", ".fini",
    ]

    static func inspect(object: URL, entryPoint: String) async throws(HarnessError) -> BuildRejection? {
        let symbols = try await CommandRunner.run("readelf", ["-sW", object.path], timeout: .seconds(30))
        let sections = try await CommandRunner.run("readelf", ["-SW", object.path], timeout: .seconds(30))
        guard symbols.isSuccess, sections.isSuccess else {
            throw HarnessError(.toolMissing, "readelf failed on the candidate object; install binutils")
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
        let badSections = sections.output.split(separator: "\n").compactMap { line -> String? in
            line.split(separator: " ", omittingEmptySubsequences: true).map(String.init).first {
                forbiddenSections.contains($0) || $0.hasPrefix(".init_array.") || $0.hasPrefix(".fini_array.")
                    || $0.hasPrefix(".ctors.") || $0.hasPrefix(".dtors.")
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
