@preconcurrency package import Crypto
package import Foundation

/// Evaluation results on disk, keyed by the content hash of everything that determined them, each
/// authenticated by an HMAC with a key only Kiln reads: a result whose MAC does not match (rewritten by
/// anything but Kiln) is refused, and the evaluation runs again.
struct ResultCache: Sendable {
    var directory: URL
    var key: SymmetricKey

    /// What loading found.
    enum Lookup {
        case hit(EvaluationResult)
        case miss
        /// The file exists but its MAC does not match: refused.
        case forged
    }

    func load(key name: String) -> Lookup {
        guard let data = try? Data(contentsOf: directory.appending(path: "\(name).json")) else { return .miss }
        guard let body = CacheAuthentication.open(data, key: key) else { return .forged }
        guard let result = try? EvaluationCoding.decoder.decode(EvaluationResult.self, from: body) else { return .miss }
        return .hit(result)
    }

    func store(_ result: EvaluationResult, key name: String) {
        guard let body = try? EvaluationCoding.encoder.encode(result) else { return }
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? CacheAuthentication.seal(body, key: key).write(
            to: directory.appending(path: "\(name).json"),
            options: .atomic
        )
    }
}

/// The MAC on Kiln's cached files (results and the machine profile): a first line
/// `kiln-mac-v1 HEX` with HMAC-SHA256 of the rest of the file, under a random key kept in the cache
/// folder (mode 0600). No sandbox sees the cache folder; the MAC catches anything else that rewrites it.
package enum CacheAuthentication {
    private static let tag = "kiln-mac-v1 "

    /// The cache's key, made on first use.
    /// - Parameter cacheDirectory: the cache folder.
    /// - Returns: the key.
    /// - Throws: ``HarnessError`` `.io` when the key cannot be read or written.
    package static func key(in cacheDirectory: URL) throws(HarnessError) -> SymmetricKey {
        let url = cacheDirectory.appending(path: "cache.key")
        if let data = try? Data(contentsOf: url), data.count == 32 { return SymmetricKey(data: data) }
        do {
            try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
            let fresh = SymmetricKey(size: .bits256)
            let bytes = fresh.withUnsafeBytes { Data($0) }
            let staging = cacheDirectory.appending(path: ".cache.key.\(UUID().uuidString)")
            guard
                FileManager.default.createFile(
                    atPath: staging.path,
                    contents: bytes,
                    attributes: [.posixPermissions: 0o600]
                )
            else { throw CocoaError(.fileWriteUnknown) }
            // Another process may have made the key meanwhile: the first one in place wins.
            if (try? FileManager.default.linkItem(at: staging, to: url)) == nil {
                try? FileManager.default.removeItem(at: staging)
                if let data = try? Data(contentsOf: url), data.count == 32 { return SymmetricKey(data: data) }
                throw CocoaError(.fileWriteUnknown)
            }
            try? FileManager.default.removeItem(at: staging)
            return fresh
        } catch {
            throw HarnessError(
                .io,
                "cannot make the cache's key in \(cacheDirectory.path); is it writable?",
                underlying: error
            )
        }
    }

    /// The file to write: the MAC line, then `body`.
    /// - Parameters:
    ///   - body: the contents.
    ///   - key: the cache's key.
    /// - Returns: the sealed file.
    package static func seal(_ body: Data, key: SymmetricKey) -> Data {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key)
        return Data((tag + hex(mac) + "\n").utf8) + body
    }

    /// The contents of a sealed file, or nil when it carries no MAC or a wrong one.
    /// - Parameters:
    ///   - data: the file.
    ///   - key: the cache's key.
    /// - Returns: the body, or nil.
    package static func open(_ data: Data, key: SymmetricKey) -> Data? {
        guard let newline = data.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
        guard line.hasPrefix(tag) else { return nil }
        let body = Data(data[(newline + 1)...])
        let expected = hex(HMAC<SHA256>.authenticationCode(for: body, using: key))
        guard constantTimeEqual(String(line.dropFirst(tag.count)), expected) else { return nil }
        return body
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
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
