"""The local platform: revisions as local processes, a traffic-splitting proxy, metrics
from its stats, state in SQLite under a state directory (DESIGN §6)."""
