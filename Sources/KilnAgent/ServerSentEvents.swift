/// Splits a server-sent-events byte stream into the `data:` payloads of its events.
struct ServerSentEvents {
    private var pending: [UInt8] = []
    private var data: [String] = []

    /// Feeds bytes; returns the payloads of the events they complete.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        pending.append(contentsOf: bytes)
        var events: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data = []
            } else if line.hasPrefix("data:") {
                var value = line.dropFirst(5)
                if value.hasPrefix(" ") { value = value.dropFirst() }
                data.append(String(value))
            }
        }
        return events
    }

    /// The payload of an event left unterminated at the end of the stream.
    mutating func finish() -> [String] {
        var events = feed([UInt8(ascii: "\n")])
        if !data.isEmpty { events.append(data.joined(separator: "\n")) }
        data = []
        return events
    }
}

/// The server-sent-events splitter, exposed for tests.
package struct ServerSentEventsProbe {
    private var events = ServerSentEvents()

    /// Creates a splitter.
    package init() {}

    /// Feeds text; returns the payloads it completes.
    /// - Parameter text: the next bytes, as text.
    /// - Returns: the payloads.
    package mutating func feed(_ text: String) -> [String] { events.feed(Array(text.utf8)) }
}
