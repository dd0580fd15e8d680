"""The DSP 2025-1 HTTPS binding: routes, authentication and the outbound client."""
