"""The live event stream: one shared tail of the event log per process (tail.py) that fans new
events out to every open stream's bounded buffer (reader.py), and the hand-over from a
reader's own catch-up reads to that tail (follow.py)."""
