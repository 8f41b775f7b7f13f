"""Caption text work: subcaptions, panel alignment, concepts and modality (issue 4)."""
