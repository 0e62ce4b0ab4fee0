"""`python -m iac`: the same as the `iac` command."""

from iac.cli import main

main()
