"""What a finished job leaves behind: the LoRA file and its companions."""
