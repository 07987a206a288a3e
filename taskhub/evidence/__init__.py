"""Evidence files on disk: cleaning up after failed submissions and `taskhub evidence gc`."""
