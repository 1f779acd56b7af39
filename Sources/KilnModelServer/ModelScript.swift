package import Foundation

/// The script of a ``ScriptedModelServer``: the answers it gives, one turn per request, and what it
/// expects each request to contain.
///
/// A script is a JSON file (documented in full in `docs/SCRIPTED_MODEL.md`):
///
/// ```json
/// { "turns": [
///   { "expect": { "last_message_contains": "text", "tool_result_contains": "correct",
///                 "has_tool": "evaluate", "message_count_at_most": 40 },
///     "delay_ms": 0,
///     "stream": true,
///     "status": 200,
///     "error_body": {"error": {"message": "..."}},
///     "retry_after": 1,
///     "drop_connection": false,
///     "truncate": false,
///     "text": "I'll write a blocked kernel.",
///     "tool_calls": [ {"name": "write_file", "arguments": {"path": "a.c", "content": "..."}},
///                     {"name": "evaluate", "arguments_raw": "{not json"} ],
///     "finish_reason": "tool_calls",
///     "usage": {"prompt_tokens": 1200, "completion_tokens": 80}
///   }
/// ], "repeat_last": false }
/// ```
///
/// Every key is optional except `turns` and a tool call's `name`; unknown keys are errors, so a typo
/// does not silently change a test.
///
/// - Each request (to `…/chat/completions` or `…/messages`) consumes the next turn, whatever its
///   status. When the turns run out the server answers HTTP 500, unless `repeat_last` is true, in
///   which case the last turn answers every later request.
/// - `status` other than 200 answers that status with `error_body` (default: a JSON error in the
///   request's protocol) and, when `retry_after` (seconds) is given, a `Retry-After` header.
/// - `delay_ms` waits before answering. `drop_connection` closes the connection: at once for a plain
///   answer, after the first half of the events for a streamed one. `truncate` ends the answer early
///   but cleanly: half of the JSON body, or the first half of the events with no finish chunk and
///   no `data: [DONE]`.
/// - `stream` overrides the request's `"stream"` flag (OpenAI only; Anthropic answers are plain JSON).
/// - A tool call's `arguments` is sent as compact JSON text with sorted keys; `arguments_raw` is sent
///   verbatim. Anthropic answers carry `input` as the parsed object, or as a JSON string holding
///   `arguments_raw` when that is not a JSON object.
/// - `finish_reason` defaults to `tool_calls` when there are tool calls and `stop` otherwise (mapped to
///   Anthropic's `tool_use`, `end_turn`, `max_tokens` and `refusal`); `usage` defaults to a quarter of
///   the request's and the answer's bytes.
package struct ModelScript: Sendable, Hashable, Codable {
    /// The answers, in order.
    package var turns: [Turn]
    /// Whether the last turn answers every request after the turns ran out.
    package var repeatsLastTurn: Bool

    /// Creates a script.
    /// - Parameters:
    ///   - turns: the answers, in order.
    ///   - repeatsLastTurn: whether the last turn answers every request after the turns ran out.
    package init(turns: [Turn], repeatsLastTurn: Bool = false) {
        self.turns = turns
        self.repeatsLastTurn = repeatsLastTurn
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case turns
        case repeatsLastTurn = "repeat_last"
    }

    package init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.turns = try container.decode([Turn].self, forKey: .turns)
        self.repeatsLastTurn = try container.decodeIfPresent(Bool.self, forKey: .repeatsLastTurn) ?? false
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(turns, forKey: .turns)
        if repeatsLastTurn { try container.encode(repeatsLastTurn, forKey: .repeatsLastTurn) }
    }

    /// Reads and checks a script file.
    /// - Parameter url: the file.
    /// - Returns: the script.
    /// - Throws: ``ModelServerError`` with code `unreadableScript` when the file cannot be read, or
    ///   `invalidScript` with every problem found, each prefixed with the file's path.
    package static func load(from url: URL) throws -> ModelScript {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelServerError(
                .unreadableScript,
                "\(url.path): error: cannot read the model script (\(error.localizedDescription))",
                underlying: error
            )
        }
        return try parse(data, source: url.path)
    }

    /// Decodes and checks a script.
    /// - Parameters:
    ///   - data: the script's JSON.
    ///   - source: where it came from, to prefix problems with (a file's path).
    /// - Returns: the script.
    /// - Throws: ``ModelServerError`` with code `invalidScript`, naming every problem found.
    package static func parse(_ data: Data, source: String = "model script") throws -> ModelScript {
        let script: ModelScript
        do {
            script = try JSONDecoder().decode(ModelScript.self, from: data)
        } catch let error as DecodingError {
            throw ModelServerError(.invalidScript, "\(source): error: \(describe(error))", underlying: error)
        } catch {
            throw ModelServerError(.invalidScript, "\(source): error: \(error)", underlying: error)
        }
        let problems = script.problems
        guard problems.isEmpty else {
            let lines = problems.map { "\(source): error: \($0)" }
            throw ModelServerError(.invalidScript, lines.joined(separator: "\n"))
        }
        return script
    }

    /// What is wrong with the script beyond its JSON shape, each naming the key at fault.
    package var problems: [String] {
        var problems: [String] = []
        if turns.isEmpty {
            problems.append("turns: the script has no turns; give at least one")
        }
        for (index, turn) in turns.enumerated() {
            problems += turn.problems.map { "turns[\(index)].\($0)" }
        }
        return problems
    }

    /// A decoding error as `path: what is wrong`.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? "the script" : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): missing; this key is required"
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\(String(describing: $0).prefix(200)))" } ?? ""
            return "\(path(context.codingPath)): \(context.debugDescription)\(underlying)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: "\(type)"
        }
    }
}

/// A coding key for any member name, to list the keys an object really has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Throws when the object being decoded has a member not in `known`, so typos in scripts are caught.
func rejectUnknownKeys(in decoder: any Decoder, known: [String]) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
    guard let first = unknown.first else { return }
    throw DecodingError.dataCorrupted(
        DecodingError.Context(
            codingPath: decoder.codingPath + [AnyCodingKey(stringValue: first)],
            debugDescription: "unknown key; the keys allowed here are \(known.joined(separator: ", "))"
        )
    )
}
