// Placeholder: the SocketIO module is being built; see the issues.
