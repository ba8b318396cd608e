"""`python -m rollout.platforms.local.proxy --state-dir D`: run the proxy process."""

from rollout.platforms.local.proxy import server

server.main()
