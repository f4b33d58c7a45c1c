"""Import and export of customers, and personal-data requests (PIPL/GDPR). See docs/import-format.md."""
