import ArgumentParser
import Foundation
import KilnServe

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the runs folder as a live dashboard in the browser (read-only, from the journals).",
        discussion:
            "Binds 127.0.0.1 by default; binding to another address requires --token. The JSON API is in docs/API.md."
    )

    @Option(name: .long, help: "The address to bind (default 127.0.0.1).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "The port (default 8080; 0 for any free port).")
    var port = 8080

    @Option(name: .long, help: "A token every request must carry (required beyond loopback).")
    var token: String?

    @Option(name: .long, help: "Seconds between a live page's checks for new journal events (default 2).")
    var refresh = 2.0

    @OptionGroup var runs: RunsFolderOptions

    func validate() throws {
        guard refresh >= 0.1, refresh <= 60 else {
            throw ValidationError("--refresh must be between 0.1 and 60 seconds")
        }
    }

    func run() async throws {
        let server = DashboardServer(store: runs.store, token: token, pollInterval: .milliseconds(Int(refresh * 1000)))
        let host = self.host
        let token = self.token
        do {
            try await server.run(host: host, port: port) { bound in
                let query = token.map { "?token=\($0)" } ?? ""
                Terminal.out("dashboard on http://\(host):\(bound)/\(query) (Ctrl-C stops it)")
            }
        } catch let error as DashboardServer.StartError {
            throw ValidationError(error.description)
        }
    }
}
