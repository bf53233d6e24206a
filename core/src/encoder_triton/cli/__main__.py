"""`python -m encoder_triton.cli` runs the `encoder-triton` command."""

from encoder_triton.cli import main

main()
