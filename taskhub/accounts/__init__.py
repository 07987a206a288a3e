"""Users, roles, sign-in and permissions."""
