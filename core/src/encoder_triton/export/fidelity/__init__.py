"""Every check of an exported artefact against PyTorch: one report, one threshold table."""
