// Placeholder: the ChatServer module is being built; see the issues.
