"""Where a model comes from and what it is: hub id or folder, task, architecture."""
