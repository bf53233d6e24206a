"""The Triton model repository: serving options, configs, the writer and the reader."""
