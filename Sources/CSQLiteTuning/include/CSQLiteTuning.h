#ifndef CSQLITE_TUNING_H
#define CSQLITE_TUNING_H

/// Process-wide SQLite settings that only the C API can make (`sqlite3_config` is variadic, so
/// Swift cannot call it), applied before the first connection opens. Returns the number of
/// settings SQLite accepted: 0 once SQLite has been initialized (the settings then stay as they
/// were, which is correct, only slower).
int webchat_sqlite_tune(void);

/// Syncs (fdatasync) the database file and then the WAL through the open files of `connection`
/// (a `sqlite3 *`), as SQLite itself would: what a checkpoint copied into the database and the
/// WAL written so far are on disk afterwards. Returns an SQLite result code. Run it on the
/// connection's own queue; it takes no lock and changes nothing SQLite keeps.
int webchat_sqlite_sync_files(void *connection);

#endif
