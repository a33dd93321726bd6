"""Studies read back into numbers: what the pages of more than one study, or of a study and a command, share."""
