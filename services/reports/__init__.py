"""The ESF+ report rendered for people: labels in German and English, CSV, XLSX and PDF."""
