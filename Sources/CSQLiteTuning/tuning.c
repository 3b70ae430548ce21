#include "CSQLiteTuning.h"
#include <sqlite3.h>

int webchat_sqlite_tune(void) {
    int accepted = 0;
    // Multi-thread mode: no mutex per connection call. GRDB already serializes every use of a
    // connection on its own queue (it supports only this mode); Debian's build defaults to
    // serialized, which locked and unlocked a mutex around every step, bind and reset.
    if (sqlite3_config(SQLITE_CONFIG_MULTITHREAD) == SQLITE_OK) accepted += 1;
    // No memory statistics: with them every allocation SQLite makes (its build has no
    // lookaside, so every one reaches malloc) takes a global mutex and asks for the block's size.
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK) accepted += 1;
    return accepted;
}

int webchat_sqlite_sync_files(void *connection) {
    sqlite3 *db = connection;
    sqlite3_file *files[2] = {0, 0};
    int rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &files[0]);
    if (rc != SQLITE_OK) return rc;
    // In WAL mode the "journal" is the WAL, once this connection has opened it.
    rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &files[1]);
    if (rc != SQLITE_OK) return rc;
    for (int i = 0; i < 2; i++) {
        if (files[i] == 0 || files[i]->pMethods == 0) continue;
        rc = files[i]->pMethods->xSync(files[i], SQLITE_SYNC_NORMAL);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}
