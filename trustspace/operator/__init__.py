"""The operator role: onboarding, credentials, revocation, keys, listings and the federated catalog."""
