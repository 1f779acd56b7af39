package import Foundation

/// Evaluation results on disk, keyed by the content hash of everything that determined them.
struct ResultCache: Sendable {
    var directory: URL

    func load(key: String) -> EvaluationResult? {
        guard let data = try? Data(contentsOf: directory.appending(path: "\(key).json")) else { return nil }
        return try? EvaluationCoding.decoder.decode(EvaluationResult.self, from: data)
    }

    func store(_ result: EvaluationResult, key: String) {
        guard let data = try? EvaluationCoding.encoder.encode(result) else { return }
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? data.write(to: directory.appending(path: "\(key).json"), options: .atomic)
    }
}

/// The JSON form of results: snake_case keys, ISO 8601 dates.
package enum EvaluationCoding {
    /// An encoder for results.
    package static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return encoder
    }

    /// An encoder for results without whitespace, for journals.
    package static var compactEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return encoder
    }

    /// A decoder for results.
    package static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return decoder
    }
}
