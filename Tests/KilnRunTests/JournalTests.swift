import Foundation
import GRDB
import KilnHarness
import KilnRun
import KilnTesting
import Testing

@Suite struct JournalTests {
    @Test("events come back in order with sequence numbers")
    func roundTrip() async throws {
        try await withTemporaryDirectory { folder in
            let journal = try Journal(url: folder.appending(path: "j.sqlite"))
            try journal.append(.resumed(pid: 12))
            try journal.append(.evaluationStarted(candidate: 1))
            try journal.append(.budgetExhausted("time"))
            let entries = try journal.entries()
            #expect(entries.map(\.sequence) == [1, 2, 3])
            #expect(
                entries.map(\.event) == [.resumed(pid: 12), .evaluationStarted(candidate: 1), .budgetExhausted("time")]
            )
            #expect(try journal.entries(after: 2).count == 1)
            let reopened = try Journal(url: folder.appending(path: "j.sqlite"), readOnly: true)
            #expect(try reopened.entries().count == 3)
        }
    }

    @Test("a new run's journal appears whole: with its first event, no staging files, never over another")
    func createdWhole() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let id = try store.create(taskName: "matmul")
            // A run killed while its journal was being written: only the staging file is there, and
            // the run does not exist for the store.
            _ = try Journal(url: store.folder(of: id).appending(path: ".creating-journal.sqlite"))
            #expect(store.allIDs().isEmpty)
            #expect(throws: RunError.self) { try store.resolve(id) }
            let journal = try Journal.create(at: store.journalURL(of: id), startingWith: .resumed(pid: 7))
            #expect(try journal.entries().map(\.event) == [.resumed(pid: 7)])
            #expect(store.allIDs() == [id])
            let left = try FileManager.default.contentsOfDirectory(atPath: store.folder(of: id).path)
            #expect(!left.contains { $0.hasPrefix(".creating") }, "\(left)")
            // Never over an existing journal: it stays as it was.
            #expect(throws: RunError.self) {
                try Journal.create(at: store.journalURL(of: id), startingWith: .interrupted)
            }
            #expect(try Journal(url: store.journalURL(of: id), readOnly: true).entries().count == 1)
        }
    }

    @Test("a journal from a newer Kiln is refused with a clear message")
    func newerFormat() async throws {
        try await withTemporaryDirectory { folder in
            let url = folder.appending(path: "j.sqlite")
            _ = try Journal(url: url)
            let queue = try DatabaseQueue(path: url.path)
            try await queue.write { db in
                try db.execute(sql: "UPDATE meta SET value = '99' WHERE key = 'format_version'")
            }
            let error = try #require(throws: RunError.self) { try Journal(url: url) }
            #expect(error.code == .newerFormat)
            #expect(error.description.contains("newer Kiln"))
        }
    }

    @Test("a file that is not a journal is refused")
    func notAJournal() async throws {
        try await withTemporaryDirectory { folder in
            let url = folder.appending(path: "j.sqlite")
            try Data("hello".utf8).write(to: url)
            let error = try #require(throws: RunError.self) { try Journal(url: url, readOnly: true) }
            #expect(error.code == .corrupt || error.code == .io)
        }
    }

    @Test("a second writer is refused, naming the holder")
    func lock() async throws {
        try await withTemporaryDirectory { folder in
            let first = try RunLock(folder: folder, runID: "r1")
            #expect(RunLock.isHeld(folder: folder))
            let error = try #require(throws: RunError.self) { try RunLock(folder: folder, runID: "r1") }
            #expect(error.code == .locked)
            #expect(error.description.contains("pid \(getpid())"))
            withExtendedLifetime(first) {}
        }
    }

    @Test("unknown run ids list the runs that exist")
    func unknownRun() async throws {
        try await withTemporaryDirectory { folder in
            let store = RunStore(root: folder)
            let id = try store.create(taskName: "t")
            _ = try Journal(url: store.journalURL(of: id))
            let error = try #require(throws: RunError.self) { try store.resolve("nope") }
            #expect(error.code == .unknownRun)
            #expect(error.description.contains(id))
            #expect(try store.resolve(String(id.prefix(20))) == id)
        }
    }

    @Test("an unwritable runs folder gets a clear error")
    func unwritable() async throws {
        let store = RunStore(root: URL(filePath: "/proc/kiln-runs"))
        let error = try #require(throws: RunError.self) { try store.create(taskName: "t") }
        #expect(error.code == .io)
        #expect(error.description.contains("--runs"))
    }
}
