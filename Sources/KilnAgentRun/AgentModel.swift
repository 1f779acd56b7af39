import Foundation
package import KilnAgent
import KilnModelServer
package import KilnRun

/// The model client of an agent run, made for the run's lifetime: a real endpoint with its key from the
/// environment the executable passes, or Kiln's scripted model server on loopback (a resumed run skips
/// the turns its journal shows were answered, so nothing is answered twice).
package enum AgentModel {
    /// Runs `body` with the run's model client.
    /// - Parameters:
    ///   - agent: the run's settings.
    ///   - answeredTurns: model requests the journal shows were answered (for scripted runs).
    ///   - environment: where the key is read from.
    ///   - onViolation: told each thing a scripted model's requests got wrong (an expectation of the
    ///     script unmet, a secret in a request), as it is found.
    ///   - body: the run.
    /// - Returns: what `body` returns.
    /// - Throws: ``ModelError`` when the key is missing; what the script or `body` throws.
    package static func with<R: Sendable>(
        _ agent: AgentSettings,
        answeredTurns: Int,
        environment: [String: String],
        onViolation: @escaping @Sendable (String) -> Void = { _ in },
        body: @escaping @Sendable (any ChatModel) async throws -> R
    ) async throws -> R {
        guard let script = agent.script else {
            return try await body(try agent.endpoint.configuration(environment: environment).makeClient())
        }
        var loaded = try ModelScript.load(from: URL(filePath: script))
        loaded.turns = Array(loaded.turns.dropFirst(answeredTurns))
        return try await ScriptedModelServer(script: loaded, onViolation: onViolation).withRunning { baseURL in
            var endpoint = agent.endpoint
            endpoint.baseURL = baseURL.appending(path: "v1").absoluteString
            let client = try endpoint.configuration(environment: environment).makeClient(label: agent.label)
            return try await body(client)
        }
    }
}
