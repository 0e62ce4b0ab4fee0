"""iac: Encord Direct Access infrastructure from one YAML file."""

__version__ = "0.1.0"
