"""Ingest of data product versions: streaming profiles and personal-information scans."""
