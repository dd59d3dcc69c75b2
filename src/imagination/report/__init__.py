"""Reports: tables, plots, HTML/Markdown/JUnit, gates."""
