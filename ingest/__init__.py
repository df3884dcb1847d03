"""dlrw runtime: CLI, configuration and one sub-package per area of the data flow."""
