// Placeholder while the module is written on its own branch.
