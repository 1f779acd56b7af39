import Foundation
import KilnTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The sandbox as a user meets it: Kiln works as root and as an ordinary user, refuses to run candidates
/// where no sandbox can be made, and says UNSANDBOXED on every result made without one.
@Suite(.timeLimit(.minutes(5)))
struct SandboxCommandTests {
    static let matmul = Fixtures.taskFolder("matmul").path
    static let seed = Fixtures.taskFolder("matmul").appending(path: "seeds/tiled.c").path
    static let isRoot = getuid() == 0
    static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let unshare = ["/usr/bin/unshare", "/bin/unshare"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(
        "an ordinary user's kiln sandboxes and judges candidates as root's does",
        .enabled(if: isRoot && setpriv != nil, "needs root to become an ordinary user, and setpriv")
    )
    func ordinaryUser() async throws {
        try await withTemporaryDirectory { folder in
            let cache = folder.appending(path: "cache")
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            for url in [folder, cache] { chown(url.path, 65533, 65533) }
            let user = [try #require(Self.setpriv), "--reuid=65533", "--regid=65533", "--clear-groups"]
            let honest = try await runKiln(
                ["eval", Self.matmul, Self.seed, "--correctness-only", "--cache-dir", cache.path],
                through: user
            )
            #expect(honest.exitCode == 0, "\(honest.stdout)\(honest.stderr)")
            #expect(!honest.stdout.contains("UNSANDBOXED"))
            let hostile = try await runKiln(
                [
                    "eval", Self.matmul, Fixtures.file("hostile/read_oracle.c").path, "--correctness-only",
                    "--cache-dir", cache.path,
                ],
                through: user
            )
            #expect(hostile.exitCode == 14, "\(hostile.stdout)\(hostile.stderr)")
            #expect(hostile.stdout.contains("io_uring_setup"))
        }
    }

    @Test(
        "where no namespace can be made, kiln refuses (69) and says how; --unsafe-no-sandbox runs and says UNSANDBOXED",
        .enabled(if: unshare != nil, "needs unshare to make a user namespace that may not nest")
    )
    func noNamespaces() async throws {
        try await withTemporaryDirectory { folder in
            let cache = try await Fixtures.freshCache(in: folder)
            // A user namespace whose own limit allows no further one: what a locked-down host looks like.
            let locked = [
                try #require(Self.unshare), "--user", "--map-root-user", "/bin/sh", "-c",
                "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"",
            ]
            let arguments = ["eval", Self.matmul, Self.seed, "--correctness-only", "--cache-dir", cache.path]
            let refused = try await runKiln(arguments, through: locked)
            #expect(refused.exitCode == 69, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("--unsafe-no-sandbox"), "\(refused.stderr)")
            #expect(refused.stderr.contains("max_user_namespaces"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("Fatal error"))
            let unsafe = try await runKiln(arguments + ["--unsafe-no-sandbox"], through: locked)
            #expect(unsafe.exitCode == 0, "\(unsafe.stdout)\(unsafe.stderr)")
            #expect(unsafe.stdout.contains("UNSANDBOXED"))
            let json = try await runKiln(arguments + ["--unsafe-no-sandbox", "--json"], through: locked)
            #expect(json.stdout.contains("\"is_sandboxed\" : false"), "\(json.stdout)")
        }
    }
}
