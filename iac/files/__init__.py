"""Files iac reads and writes: bounded input reading, atomic writes, output directories with their ledger of
who wrote what, and the directory locks that keep two runs apart.

Imports only iac's foundations (errors, defaults, words); every package above writes through here.
"""
