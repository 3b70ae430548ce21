// Placeholder: the ChatSQLite module is being built; see the issues.
