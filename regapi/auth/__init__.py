"""Access to the service: OAuth2 clients, signed tokens and their keys, roles, and the
transport rules (mutual TLS, address allow-list) of the regulator API."""
