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
