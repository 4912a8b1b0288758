"""The toy Linux kernel on the CPU model."""
