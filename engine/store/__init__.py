"""PostgreSQL storage for the live service: schema migrations and the repositories that
read and write events, decisions, alerts, cases, incidents and policy versions.

SQL lives in the repository that runs it; callers pass a connection and own the
transaction.
"""
