#ifndef CSQLITE_TUNING_H
#define CSQLITE_TUNING_H

/// Process-wide SQLite settings that only the C API can make (`sqlite3_config` is variadic, so
/// Swift cannot call it), applied before the first connection opens. Returns the number of
/// settings SQLite accepted: 0 once SQLite has been initialized (the settings then stay as they
/// were, which is correct, only slower).
int webchat_sqlite_tune(void);

#endif
