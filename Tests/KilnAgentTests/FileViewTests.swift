import Foundation
import KilnAgent
import KilnTesting
import Testing

/// `read_file` never hides code: a file too long for one result is cut at a line boundary, the lines
/// left out are named, and the call the note gives reads exactly them.
@Suite struct FileViewTests {
    /// A 20 KB C-like file of numbered, distinct lines of uneven length.
    static let largeFile: String =
        (1...420).map { index in
            "    acc\(index) = fma(a[\(index)], b[\(index)], acc\(index)); /* "
                + String(repeating: "x", count: index % 37) + " */"
        }
        .joined(separator: "\n") + "\n"

    /// The lines shown, as (number, text), and every other line of the result.
    static func parse(_ output: String) -> (lines: [(Int, String)], notes: [String]) {
        var lines: [(Int, String)] = []
        var notes: [String] = []
        for row in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if let colon = row.firstIndex(of: ":"), let number = Int(row[..<colon]) {
                lines.append((number, String(row[row.index(colon, offsetBy: 2)...])))
            } else {
                notes.append(String(row))
            }
        }
        return (lines, notes)
    }

    @Test(
        "a file over the cap is cut after a whole line, and the note names the lines left out and the call that reads them"
    )
    func cutAtLineBoundary() throws {
        let text = Self.largeFile
        #expect(text.count > 20_000)
        let fileLines = FileView.lines(of: text)
        let output = FileView.render(text, path: "big.c")
        #expect(output.count <= FileView.characterLimit + 400)
        let (shown, notes) = Self.parse(output)
        let first = try #require(shown.first)
        let last = try #require(shown.last)
        #expect(first.0 == 1)
        // Every line shown is whole and in order: the cut falls between lines.
        for (offset, line) in shown.enumerated() {
            #expect(line.0 == offset + 1)
            #expect(line.1 == String(fileLines[line.0 - 1]))
        }
        #expect(!output.contains("characters cut"))
        let missing = "lines \(last.0 + 1)-420 of 420 not shown"
        #expect(notes.contains { $0.contains(missing) }, "\(notes)")
        #expect(notes.first?.contains("lines 1-\(last.0) shown") == true, "\(notes)")

        // The call the note suggests shows the next lines, whole, from where the first page stopped.
        let note = try #require(notes.last)
        let offset = try #require(Self.argument("offset", in: note))
        let limit = try #require(Self.argument("limit", in: note))
        #expect(offset == last.0 + 1)
        let next = Self.parse(FileView.render(text, path: "big.c", offset: offset, limit: limit))
        #expect(next.lines.first?.0 == offset)
        #expect(next.lines.count == limit)
        for line in next.lines { #expect(line.1 == String(fileLines[line.0 - 1])) }
    }

    @Test("paging with the notes' calls reads every line of a file exactly once")
    func pagesCoverTheFile() throws {
        let text = Self.largeFile
        var seen: [Int] = []
        var output = FileView.render(text, path: "big.c")
        for _ in 0..<10 {
            let (lines, notes) = Self.parse(output)
            seen += lines.map(\.0)
            guard let note = notes.last(where: { $0.contains("offset=") }),
                let offset = Self.argument("offset", in: note), let limit = Self.argument("limit", in: note)
            else { break }
            output = FileView.render(text, path: "big.c", offset: offset, limit: limit)
        }
        #expect(seen == Array(1...420))
    }

    @Test("a small file is returned verbatim; a range is numbered; a line longer than the cap says so")
    func smallRangesAndLongLines() throws {
        #expect(FileView.render("int x;\nint y;\n", path: "a.c") == "int x;\nint y;\n")
        #expect(FileView.render("int x;\nint y;\n", path: "a.c", offset: 2, limit: 5) == "2: int y;")
        #expect(
            FileView.render("int x;\nint y;\n", path: "a.c", offset: 1, limit: 1)
                == "1: int x;\n[lines 2-2 of 2 follow; read_file with offset=2 limit=1 shows the next line]"
        )
        #expect(FileView.render("a\n", path: "a.c", offset: 9).contains("the file has 1 lines"))
        let long = "short\n" + String(repeating: "y", count: 500) + "\nend\n"
        let output = FileView.render(long, path: "a.c", offset: 2, characterLimit: 100)
        #expect(output.contains("line 2 is 500 characters long"))
        #expect(output.contains("lines 3-3 of 3 not shown; read_file with offset=3 limit=1"))
    }

    @Test("the read_file tool's schema states the cap, and the tool returns the line-cut view")
    func tool() async throws {
        try await withTemporaryDirectory { folder in
            let tools = StandardTools(workspace: Workspace(root: folder), sandbox: try await Fixtures.sandbox())
            let definition = try #require(tools.tools.first { $0.name == "read_file" }?.definition)
            #expect(definition.description.contains("\(FileView.characterLimit) characters"))
            #expect(definition.description.contains("line boundary"))
            _ = await tools.run("write_file", arguments: ["path": "big.c", "content": .string(Self.largeFile)])
            let read = try #require(await tools.run("read_file", arguments: ["path": "big.c"]))
            #expect(!read.isError)
            #expect(read.content.contains("of 420 not shown; read_file with offset="), "\(read.content.suffix(300))")
        }
    }

    /// `name=N` in a note.
    static func argument(_ name: String, in note: String) -> Int? {
        guard let range = note.range(of: "\(name)=") else { return nil }
        return Int(note[range.upperBound...].prefix { $0.isNumber })
    }
}
