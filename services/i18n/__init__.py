"""Translations (gettext catalogues read with Babel) and locale formatting of numbers and dates."""
