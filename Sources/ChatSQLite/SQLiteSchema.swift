import GRDB

/// The schema, as `DatabaseMigrator` migrations.
///
/// Which index serves which query:
/// - `timeline` UNIQUE `timeline_user_seq` (user, seq): replay and gap fill (`seq > ?` range per
///   user), the entry looked up by an ack. The rows themselves are in append order (a rowid
///   table since v3), so a commit's new entries share the last page or two and retention
///   deletes a prefix of rowids (v4 dropped the index on ts). A group message's entry holds
///   an empty payload (rows written before hold a copy): replay reads the message through
///   `messages_position` instead, so one message to 1,000 members is stored once, not 999 times.
/// - `messages` UNIQUE `messages_position` (conversation, pos): history pages (`pos < before`
///   descending), the call log's last message, and unread recount (`pos > last_read_pos`) on
///   read; rows in append order since v3, like the timeline's.
///   `messages_idempotency` UNIQUE (sender, client_id): idempotent sends.
///   `messages_read_lookup` (conversation, client_id), group messages only (v2): resolving the
///   ids of a `read` in a group; in a direct conversation every message the reader can read
///   is the peer's, so `messages_idempotency` (peer, client_id) resolves them.
/// - `members` UNIQUE (conversation, user): membership checks and fan-out lists (rowid gives
///   join order); `members_by_user` (user): the call log (sorted newest first when read: an
///   index on (user, updated_at) moved two entries per message) and `contacts`. The per-member
///   `unread` counter (+1 per message from others, recounted on read from `last_read_pos` via
///   `messages_position`) means unread counts never scan history.
/// - `deliveries`/`reads` PRIMARY KEY (conversation, pos, user): once-per-recipient inserts and
///   the delivered/read lists of a history page (range over pos). Since v5 `deliveries` holds
///   group messages only; a direct message's delivery is its row's `delivered_at`.
/// - `users` PRIMARY KEY (id): lookups and prefix search (`id >= ? AND id < ?`), `acked_seq`,
///   and `seq_floor`, the highest seq pruning deleted. A user's latest seq is the greater of that
///   and their highest entry in `timeline_user_seq`, a conversation's last pos its highest in
///   `messages_position` (since v6; `WriterMemory`). `tokens` PRIMARY KEY (hash).
/// - `shared_payloads` PRIMARY KEY (id): a group event's payload, once for all its members, whose
///   entries name it in `timeline.shared` (since v7; rows written before hold a copy).
///   `timeline_shared` (shared) over those entries only: the lowest payload still named, which
///   pruning keeps from.
enum SQLiteSchema {
    /// A user's latest seq, as SQL over a `users` row: their highest timeline entry, or the floor
    /// pruning left when it deleted their newest ones (schema v6). The writer counts on from it
    /// (`WriterMemory`); readers answer `timelineHead` with it.
    static let latestSeq = "MAX(seq_floor, COALESCE((SELECT MAX(seq) FROM timeline WHERE user = users.id), 0))"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, password_hash TEXT, last_seen INTEGER,
                    created_at INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, acked_seq INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE tokens (
                    hash TEXT PRIMARY KEY, user TEXT NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE timeline (
                    user TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, payload BLOB NOT NULL, ts INTEGER NOT NULL,
                    conversation TEXT, pos INTEGER, PRIMARY KEY (user, seq)
                ) WITHOUT ROWID;
                CREATE INDEX timeline_ts ON timeline(ts);
                CREATE TABLE conversations (
                    id TEXT PRIMARY KEY, last_pos INTEGER NOT NULL DEFAULT 0, name TEXT, owner TEXT
                ) WITHOUT ROWID;
                CREATE TABLE members (
                    conversation TEXT NOT NULL, user TEXT NOT NULL, updated_at INTEGER NOT NULL,
                    last_read_pos INTEGER NOT NULL DEFAULT 0, unread INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (conversation, user)
                );
                CREATE INDEX members_call_log ON members(user, updated_at);
                CREATE TABLE messages (
                    conversation TEXT NOT NULL, pos INTEGER NOT NULL, client_id TEXT NOT NULL, sender TEXT NOT NULL,
                    recipient TEXT, group_id TEXT, body TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (conversation, pos)
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX messages_idempotency ON messages(sender, client_id);
                CREATE INDEX messages_read_lookup ON messages(conversation, client_id);
                CREATE TABLE deliveries (
                    conversation TEXT NOT NULL, pos INTEGER NOT NULL, user TEXT NOT NULL, ts INTEGER NOT NULL,
                    PRIMARY KEY (conversation, pos, user)
                ) WITHOUT ROWID;
                CREATE TABLE reads (
                    conversation TEXT NOT NULL, pos INTEGER NOT NULL, user TEXT NOT NULL, ts INTEGER NOT NULL,
                    PRIMARY KEY (conversation, pos, user)
                ) WITHOUT ROWID;
                """)
        }
        // Every index is one more B-tree page written per message under load (~1.1 WAL frames
        // per message for this one, measured by page owner over a bench run's WAL), and direct
        // conversations never needed it: only group reads look messages up by conversation.
        migrator.registerMigration("v2: read lookup for group messages only") { db in
            try db.execute(sql: """
                DROP INDEX messages_read_lookup;
                CREATE INDEX messages_read_lookup ON messages(conversation, client_id) WHERE group_id IS NOT NULL;
                """)
        }
        // Keyed by (user, seq) and (conversation, pos), the rows of one commit landed on one leaf
        // per user or conversation, in the middle of the tree, where full pages split three ways:
        // 3.5 and 1.7 WAL frames per message (bench run, 20 pairs at 4,500 messages/s). In append
        // order a commit's rows share the rightmost page(s) and only small index entries scatter.
        // (The timeline's index on ts is not rebuilt: v4 drops it.)
        migrator.registerMigration("v3: timeline and messages in append order") { db in
            try db.execute(sql: """
                CREATE TABLE messages_v3 (
                    id INTEGER PRIMARY KEY, conversation TEXT NOT NULL, pos INTEGER NOT NULL, client_id TEXT NOT NULL,
                    sender TEXT NOT NULL, recipient TEXT, group_id TEXT, body TEXT NOT NULL, ts INTEGER NOT NULL
                );
                INSERT INTO messages_v3 (conversation, pos, client_id, sender, recipient, group_id, body, ts)
                    SELECT conversation, pos, client_id, sender, recipient, group_id, body, ts FROM messages ORDER BY ts, conversation, pos;
                DROP TABLE messages;
                ALTER TABLE messages_v3 RENAME TO messages;
                CREATE UNIQUE INDEX messages_position ON messages(conversation, pos);
                CREATE UNIQUE INDEX messages_idempotency ON messages(sender, client_id);
                CREATE INDEX messages_read_lookup ON messages(conversation, client_id) WHERE group_id IS NOT NULL;
                """)
            try db.execute(sql: """
                CREATE TABLE timeline_v3 (
                    id INTEGER PRIMARY KEY, user TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, payload BLOB NOT NULL,
                    ts INTEGER NOT NULL, conversation TEXT, pos INTEGER
                );
                INSERT INTO timeline_v3 (user, seq, event, payload, ts, conversation, pos)
                    SELECT user, seq, event, payload, ts, conversation, pos FROM timeline ORDER BY ts, user, seq;
                DROP TABLE timeline;
                ALTER TABLE timeline_v3 RENAME TO timeline;
                CREATE UNIQUE INDEX timeline_user_seq ON timeline(user, seq);
                """)
        }
        // With one or two operations per commit (a quiet server, the usual case) every B-tree an
        // operation touches is a WAL frame of its own: ~19 pwrite calls per message at 2,000
        // messages/s. Two of them only served rare reads. The call log sorts a user's
        // conversations when asked instead of keeping (user, updated_at) sorted on every message,
        // and retention prunes a prefix of the timeline in rowid order (which is time order since
        // v3) instead of keeping an index on ts.
        migrator.registerMigration("v4: no per-message index for the call log or pruning") { db in
            try db.execute(sql: """
                DROP INDEX IF EXISTS timeline_ts;
                DROP INDEX members_call_log;
                CREATE INDEX members_by_user ON members(user);
                """)
        }
        // deliveries was ~1.1 WAL frames per message: one row per recipient, keyed by
        // conversation, so one page per conversation per commit. A direct message has one
        // recipient, so its delivery is a column of its own row, which sits in the last pages of
        // the append-ordered table that the commits around it dirty anyway. Groups keep the table.
        migrator.registerMigration("v5: direct deliveries on the message row") { db in
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN delivered_at INTEGER;
                UPDATE messages SET delivered_at = (
                    SELECT d.ts FROM deliveries d WHERE d.conversation = messages.conversation AND d.pos = messages.pos AND d.user = messages.recipient
                ) WHERE recipient IS NOT NULL;
                DELETE FROM deliveries WHERE conversation IN (SELECT id FROM conversations WHERE name IS NULL);
                """)
        }
        // The counters were columns raised and read back for every message and receipt (four
        // statements, and the users and conversations pages in every commit). The indexes on
        // (user, seq) and (conversation, pos) already know the highest of each, and the writer
        // counts on in memory from there (`WriterMemory`). A user's row keeps a floor, for
        // when pruning deletes their newest entries: every user's current seq, at first.
        migrator.registerMigration("v6: counters from the indexes") { db in
            try db.execute(sql: """
                ALTER TABLE users RENAME COLUMN last_seq TO seq_floor;
                ALTER TABLE conversations DROP COLUMN last_pos;
                """)
        }
        // A group event went into every member's row whole, and it names every member twice (the
        // group's list and the users it is about): 20 `group:create` of 1,000 members wrote 448 MB.
        // It is stored once now, and the members' rows refer to it. The partial index holds the
        // group events' rows only (none of the message path's): pruning asks it which payloads
        // are still referred to.
        migrator.registerMigration("v7: group events stored once") { db in
            try db.execute(sql: """
                CREATE TABLE shared_payloads (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
                ALTER TABLE timeline ADD COLUMN shared INTEGER;
                CREATE INDEX timeline_shared ON timeline(shared) WHERE shared IS NOT NULL;
                """)
        }
        return migrator
    }
}
