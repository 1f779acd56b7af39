import Foundation

/// The tunables a candidate declares in its source, and the space of configurations they span.
///
/// A candidate declares them in comment lines (`//` in C, `#` in Python):
///
///     // kiln:tunable BLOCK_Q 32 16 64
///     // kiln:flags -O3 -march=native -ffast-math | -O3 -march=native
///     # kiln:tunable BLOCK_M 64 32 128
///
/// Each `kiln:tunable` names a macro (C: passed to the compiler as `-DNAME=VALUE`) or a module constant
/// (Triton: bound in the candidate's namespace by its driver) and its values, the first the default.
/// One `kiln:flags` line (C only) lists alternative flag sets separated by `|` (the first is the
/// default); without one, the task's default flags are the only set.
package struct TunableSpace: Hashable, Sendable, Codable {
    /// One macro and the values it may take.
    package struct Tunable: Hashable, Sendable, Codable {
        /// The macro's name.
        package var name: String
        /// Its values, the default first.
        package var values: [String]

        /// Creates a tunable.
        /// - Parameters:
        ///   - name: the macro's name.
        ///   - values: its values, the default first.
        package init(name: String, values: [String]) {
            self.name = name
            self.values = values
        }
    }

    /// The declared macros, in source order.
    package var tunables: [Tunable]
    /// The alternative flag sets, the default first; empty when the source declares none.
    package var flagSets: [[String]]

    /// Creates a space.
    /// - Parameters:
    ///   - tunables: the macros, in source order.
    ///   - flagSets: the alternative flag sets, the default first.
    package init(tunables: [Tunable], flagSets: [[String]]) {
        self.tunables = tunables
        self.flagSets = flagSets
    }

    /// The most configurations a space may have: more than a tuner could ever try, few enough that no
    /// count overflows.
    package static let maximumSize = 1 << 40

    /// The number of configurations in the space (at most ``maximumSize``: ``parse(source:file:)``
    /// refuses larger spaces).
    package var size: Int {
        var product = max(flagSets.count, 1)
        for tunable in tunables {
            let (next, overflow) = product.multipliedReportingOverflow(by: tunable.values.count)
            if overflow || next > Self.maximumSize { return Self.maximumSize }
            product = next
        }
        return product
    }

    /// The default configuration: every first value and the first flag set.
    package var defaultConfiguration: TunableConfiguration {
        TunableConfiguration(
            values: Dictionary(uniqueKeysWithValues: tunables.map { ($0.name, $0.values[0]) }),
            flagSet: 0
        )
    }

    /// Reads the declarations in a candidate's source.
    /// - Parameters:
    ///   - source: the candidate's C source.
    ///   - file: the file's name, for diagnostics.
    /// - Returns: the declared space.
    /// - Throws: ``TaskError`` with code `.invalidConfiguration` for malformed declarations.
    package static func parse(source: String, file: String) throws(TaskError) -> TunableSpace {
        var tunables: [Tunable] = []
        var flagSets: [[String]] = []
        var diagnostics: [Diagnostic] = []
        for (index, raw) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let marker = line.hasPrefix("//") ? 2 : line.hasPrefix("#") ? 1 : 0
            guard marker > 0 else { continue }
            let body = line.dropFirst(marker).trimmingCharacters(in: .whitespaces)
            if body.hasPrefix("kiln:tunable") {
                let words = body.split(separator: " ", omittingEmptySubsequences: true).dropFirst().map(String.init)
                guard let name = words.first, words.count >= 2, isIdentifier(name) else {
                    diagnostics.append(
                        Diagnostic(
                            file: file,
                            line: index + 1,
                            message: "write '// kiln:tunable NAME VALUE [VALUE...]' ('#' in Python)"
                        )
                    )
                    continue
                }
                let values = Array(words.dropFirst())
                if let bad = values.first(where: { !$0.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) } }
                ) {
                    diagnostics.append(
                        Diagnostic(
                            file: file,
                            line: index + 1,
                            message: "tunable value '\(bad)' must be a number or identifier"
                        )
                    )
                }
                if tunables.contains(where: { $0.name == name }) {
                    diagnostics.append(
                        Diagnostic(file: file, line: index + 1, message: "tunable '\(name)' is declared twice")
                    )
                }
                tunables.append(Tunable(name: name, values: values))
            } else if body.hasPrefix("kiln:flags") {
                let sets = body.dropFirst("kiln:flags".count).split(separator: "|").map {
                    $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                }
                if !flagSets.isEmpty {
                    diagnostics.append(
                        Diagnostic(file: file, line: index + 1, message: "only one 'kiln:flags' line is allowed")
                    )
                }
                for set in sets {
                    if set.isEmpty {
                        diagnostics.append(
                            Diagnostic(file: file, line: index + 1, message: "empty flag set in 'kiln:flags'")
                        )
                    } else if let problem = FlagPolicy.problem(with: set) {
                        diagnostics.append(Diagnostic(file: file, line: index + 1, message: problem))
                    }
                }
                flagSets = sets
            }
        }
        let space = TunableSpace(tunables: tunables, flagSets: flagSets)
        if diagnostics.isEmpty, space.size >= maximumSize {
            diagnostics.append(
                Diagnostic(
                    file: file,
                    message:
                        "the declared tunables make at least \(maximumSize) configurations; no tuner can search that, declare fewer values"
                )
            )
        }
        guard diagnostics.isEmpty else { throw TaskError(.invalidConfiguration, diagnostics) }
        return space
    }

    /// Applies `NAME=VALUE` settings over the default configuration.
    /// - Parameters:
    ///   - settings: `NAME=VALUE` texts; `NAME` must be declared, `VALUE` among its values unless
    ///     `allowUndeclaredValues`.
    ///   - flagSet: the index of the flag set, or nil for the default.
    ///   - allowUndeclaredValues: accept values outside the declared list.
    /// - Returns: the configuration.
    /// - Throws: ``TaskError`` with code `.invalidConfiguration` naming the declared tunables.
    package func configuration(
        settings: [String],
        flagSet: Int? = nil,
        allowUndeclaredValues: Bool = false
    ) throws(TaskError) -> TunableConfiguration {
        var configuration = defaultConfiguration
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            let declared = tunables.map(\.name).joined(separator: ", ")
            guard parts.count == 2, let tunable = tunables.first(where: { $0.name == parts[0] }) else {
                throw TaskError(
                    .invalidConfiguration,
                    file: "--param",
                    "'\(setting)' does not set a declared tunable (write NAME=VALUE; declared: \(declared.isEmpty ? "none" : declared))"
                )
            }
            guard allowUndeclaredValues || tunable.values.contains(parts[1]) else {
                throw TaskError(
                    .invalidConfiguration,
                    file: "--param",
                    "\(tunable.name)=\(parts[1]) is not among its declared values \(tunable.values.joined(separator: " "))"
                )
            }
            configuration.values[tunable.name] = parts[1]
        }
        if let flagSet {
            guard flagSet >= 0, flagSet < max(flagSets.count, 1) else {
                throw TaskError(
                    .invalidConfiguration,
                    file: "--flag-set",
                    "flag set \(flagSet) does not exist; the candidate declares \(max(flagSets.count, 1)) (0-based)"
                )
            }
            configuration.flagSet = flagSet
        }
        return configuration
    }

    private static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.first, first.isLetter || first == "_" else { return false }
        return text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }
}

/// One point of a ``TunableSpace``: a value for every macro and the index of a flag set.
package struct TunableConfiguration: Hashable, Sendable, Codable {
    /// The macro values by name.
    package var values: [String: String]
    /// The index of the flag set among the declared ones (0 when none are declared).
    package var flagSet: Int

    /// Creates a configuration.
    /// - Parameters:
    ///   - values: the macro values by name.
    ///   - flagSet: the flag set's index.
    package init(values: [String: String], flagSet: Int) {
        self.values = values
        self.flagSet = flagSet
    }

    /// The `-DNAME=VALUE` flags, sorted by name so equal configurations build identically.
    package var defines: [String] {
        values.keys.sorted().compactMap { key in values[key].map { "-D\(key)=\($0)" } }
    }

    /// A short label such as `BLOCK_K=64 BLOCK_Q=32 flags#0`.
    package var label: String {
        (values.keys.sorted().compactMap { key in values[key].map { "\(key)=\($0)" } } + ["flags#\(flagSet)"])
            .joined(separator: " ")
    }
}
