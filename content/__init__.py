"""Content as data: texts, FAQ, checklists, milestones (YAML), loaded by flows/."""
