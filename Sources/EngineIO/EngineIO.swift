// Placeholder: the EngineIO module is being built; see the issues.
