import Foundation
import KilnTask
import KilnTesting
import Testing

@Suite struct TaskLoaderTests {
    @Test("loads the bundled extend-attention task with its six suite shapes")
    func loadsExtendAttention() throws {
        let task = try Fixtures.task("extend-attention")
        #expect(task.entryPoint == "extend_attention")
        let names = task.suite.map(\.name)
        for expected in ["prefill", "mixed", "long-prefix", "mha", "decode-like", "capped"] {
            #expect(names.contains(expected))
        }
        #expect(task.heldout.count >= 4)
        let mixed = try #require(task.suite.first { $0.name == "mixed" })
        #expect(mixed["prefix"] == .ints([256, 512, 1024, 2048]))
        #expect(mixed.driverSpec.hasPrefix("name=mixed;"))
        #expect(task.contentHash.count == 64)
    }

    @Test("loads the bundled matmul task")
    func loadsMatmul() throws {
        let task = try Fixtures.task("matmul")
        #expect(task.entryPoint == "matmul")
        #expect(!task.suite.isEmpty)
    }

    @Test("a missing folder is not found")
    func missingFolder() throws {
        let error = try #require(throws: TaskError.self) {
            try KernelTask.load(from: URL(filePath: "/nonexistent/kiln-task"))
        }
        #expect(error.code == .notFound)
        #expect(error.description.contains("no such task folder"))
    }

    @Test("malformed TOML names the file and line")
    func malformedToml() async throws {
        try await withTemporaryDirectory { folder in
            try "name = \"x\"\nentry_point = \n".write(
                to: folder.appending(path: "task.toml"),
                atomically: true,
                encoding: .utf8
            )
            let error = try #require(throws: TaskError.self) { try KernelTask.load(from: folder) }
            #expect(error.code == .invalid)
            #expect(error.description.contains("task.toml:2"))
        }
    }

    @Test("every problem in a task file is reported at once, with lines")
    func collectsAllDiagnostics() async throws {
        try await withTemporaryDirectory { folder in
            let text = """
                name = "broken"
                entry_point = "not an identifier"
                header = "missing.h"
                instance = "instance.c"
                oracle = "oracle.c"
                baseline = "baseline.c"
                colour = "blue"

                [build]
                flags = ["-O3", "-fplugin=evil.so"]

                [[suite]]
                name = "a"
                n = "sixteen"
                """
            try text.write(to: folder.appending(path: "task.toml"), atomically: true, encoding: .utf8)
            let error = try #require(throws: TaskError.self) { try KernelTask.load(from: folder) }
            #expect(error.code == .invalid)
            let report = error.description
            #expect(report.contains("task.toml:2: error: 'entry_point' must be an identifier"))
            #expect(report.contains("task.toml:3: error: 'header' names 'missing.h'"))
            #expect(report.contains("'instance' names 'instance.c'"))
            #expect(report.contains("task.toml:7: error: unknown key 'colour'"))
            #expect(report.contains("task.toml:10: error: [build] flags: flag '-fplugin=evil.so' is not allowed"))
            #expect(report.contains("task.toml:14: error: shape 'a': 'n' must be"))
        }
    }

    @Test("an unknown shape name lists the shapes that exist")
    func unknownShape() throws {
        let task = try Fixtures.task("matmul")
        let error = try #require(throws: TaskError.self) { try task.shapes(named: ["nope"]) }
        #expect(error.code == .unknownShape)
        #expect(error.description.contains(task.suite[0].name))
    }

    @Test("held-out shapes can be picked by name, in the order asked")
    func picksShapes() throws {
        let task = try Fixtures.task("extend-attention")
        let heldout = try #require(task.heldout.first)
        let picked = try task.shapes(named: [heldout.name, "mha"])
        #expect(picked.map(\.name) == [heldout.name, "mha"])
        #expect(try task.shapes(named: []).count == task.suite.count)
    }
}
