"""Spreadsheet (CSV) and JSON Lines imports: parse, validate, report every bad row."""
