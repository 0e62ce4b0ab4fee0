"""Encord registration files: the upload JSON/CSV that points Encord at the Direct Access data."""
