"""Conversation history: a private chat as one list of both directions (reads.py), and
backfilling what the gateway never stored from Telegram's own history (backfill.py)."""
