# (placeholder include; filled by its owner)
