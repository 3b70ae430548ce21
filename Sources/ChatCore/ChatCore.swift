// Placeholder: the ChatCore module is being built; see the issues.
