"""Program-level steps: decisions about the program as a whole, wired in issuebot.workflows.PROGRAM_STEPS."""
