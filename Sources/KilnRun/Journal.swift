package import Foundation
import GRDB

/// A run's append-only event log in SQLite (WAL mode, synchronous writes).
///
/// Every event gets the next sequence number and is on disk before `append` returns; a crash at any
/// instant leaves a journal that opens and replays up to the last complete event.
package final class Journal: Sendable {
    /// The journal format this Kiln writes; a journal with a larger number is refused.
    package static let formatVersion = 1

    private let pool: DatabasePool
    /// The database file.
    package let url: URL

    /// One stored event.
    package struct Entry: Sendable, Hashable {
        /// Its sequence number, from 1.
        package var sequence: Int
        /// When it was written.
        package var date: Date
        /// The event.
        package var event: RunEvent
    }

    /// Opens (creating if needed) the journal at `url`.
    /// - Parameters:
    ///   - url: the database file.
    ///   - readOnly: open for reading only (the file must exist).
    /// - Throws: ``RunError`` `.io`, `.corrupt` or `.newerFormat`.
    package init(url: URL, readOnly: Bool = false) throws(RunError) {
        self.url = url
        var configuration = GRDB.Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            if !readOnly { try db.execute(sql: "PRAGMA synchronous = FULL") }
        }
        do {
            pool = try DatabasePool(path: url.path, configuration: configuration)
        } catch {
            throw RunError(.io, "cannot open the journal \(url.path)", underlying: error)
        }
        do {
            if !readOnly {
                try Self.migrator.migrate(pool)
            }
            let version = try pool.read { db in
                try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format_version'")
            }
            guard let version, let number = Int(version) else {
                throw RunError(.corrupt, "\(url.path) is not a Kiln journal")
            }
            if number > Journal.formatVersion {
                throw RunError(
                    .newerFormat,
                    "the journal \(url.path) was written by a newer Kiln (format \(number); this Kiln reads up to \(Journal.formatVersion)); upgrade Kiln to open it"
                )
            }
        } catch let error as RunError {
            throw error
        } catch {
            throw RunError(.corrupt, "\(url.path) is not a readable Kiln journal", underlying: error)
        }
    }

    /// Creates a new run's journal holding its first event, all at once: the journal is written
    /// under a staging name (its log checkpointed away, so that it is one file), closed, and renamed
    /// into place. A crash at any instant leaves either no journal at `url` (no run) or one that
    /// starts with `first`, never an empty one.
    /// - Parameters:
    ///   - url: where the journal goes; nothing may be there yet.
    ///   - first: the first event (a run's `started`).
    /// - Returns: the journal, open at `url`.
    /// - Throws: ``RunError`` `.io` when it cannot be written or moved into place.
    package static func create(at url: URL, startingWith first: RunEvent) throws(RunError) -> Journal {
        let staging = url.deletingLastPathComponent().appending(path: ".creating-" + url.lastPathComponent)
        for suffix in ["", "-journal", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: staging.path + suffix)
        }
        do {
            var configuration = GRDB.Configuration()
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            let queue = try DatabaseQueue(path: staging.path, configuration: configuration)
            // Switched to WAL here, checkpointed and closed (the last connection removes -wal and -shm):
            // one file whose header already says WAL, so opening it in place changes nothing on disk.
            _ = try queue.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
            try migrator.migrate(queue)
            let payload = try first.encodedPayload()
            try queue.write { db in _ = try insert(first, payload: payload, into: db) }
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try queue.close()
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: staging.path + suffix) }
        } catch {
            throw RunError(.io, "cannot write the new journal \(staging.path)", underlying: error)
        }
        do {
            try FileManager.default.moveItem(at: staging, to: url)
        } catch {
            throw RunError(.io, "cannot move the new journal into place at \(url.path)", underlying: error)
        }
        return try Journal(url: url)
    }

    /// The journal's schema.
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY NOT NULL,
                        kind TEXT NOT NULL,
                        at REAL NOT NULL,
                        payload BLOB NOT NULL
                    );
                    """
            )
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('format_version', ?)",
                arguments: [String(Journal.formatVersion)]
            )
        }
        return migrator
    }

    /// Writes an event as the next one, inside the caller's transaction.
    private static func insert(_ event: RunEvent, payload: Data, into db: Database) throws -> Int {
        let next = (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0) + 1
        try db.execute(
            sql: "INSERT INTO events (seq, kind, at, payload) VALUES (?, ?, ?, ?)",
            arguments: [next, event.kind, Date().timeIntervalSince1970, payload]
        )
        return next
    }

    /// Appends an event; it is on disk when this returns.
    /// - Parameter event: the event.
    /// - Returns: its sequence number.
    /// - Throws: ``RunError`` `.io`.
    @discardableResult
    package func append(_ event: RunEvent) throws(RunError) -> Int {
        do {
            let payload = try event.encodedPayload()
            return try pool.write { db in try Self.insert(event, payload: payload, into: db) }
        } catch {
            throw RunError(.io, "cannot append to the journal \(url.path)", underlying: error)
        }
    }

    /// Every event after `sequence`, in order.
    /// - Parameter sequence: the last sequence number already seen (0 for all).
    /// - Returns: the entries.
    /// - Throws: ``RunError`` `.corrupt` when a row cannot be read.
    package func entries(after sequence: Int = 0) throws(RunError) -> [Entry] {
        do {
            let rows = try pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT seq, kind, at, payload FROM events WHERE seq > ? ORDER BY seq",
                    arguments: [sequence]
                )
            }
            return try rows.compactMap { row -> Entry? in
                let kind: String = row["kind"]
                let payload: Data = row["payload"]
                guard let event = try RunEvent.decode(kind: kind, payload: payload) else { return nil }
                return Entry(sequence: row["seq"], date: Date(timeIntervalSince1970: row["at"]), event: event)
            }
        } catch let error as RunError {
            throw error
        } catch {
            throw RunError(.corrupt, "cannot read the journal \(url.path)", underlying: error)
        }
    }

    /// The last sequence number written (0 for an empty journal).
    /// - Returns: the number.
    /// - Throws: ``RunError`` `.corrupt` when the journal cannot be read.
    package func lastSequence() throws(RunError) -> Int {
        do {
            return try pool.read { db in try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0 }
        } catch {
            throw RunError(.corrupt, "cannot read the journal \(url.path)", underlying: error)
        }
    }

    /// The number of events and the size of the database file.
    /// - Returns: the count and bytes.
    package func statistics() -> (events: Int, bytes: Int) {
        let count = (try? pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }) ?? 0
        let bytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        return (count, bytes)
    }
}
