"""A simulated Microsoft 365 tenant: Microsoft Graph and the Entra token endpoint over HTTPS."""
